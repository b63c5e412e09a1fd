import { ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { NamedTensor, decodeTensors, encodeTensors } from '@flops/tensor-codec';

const ROOT = join(__dirname, '../../..');

/**
 * The Python interpreter of the oracle venv (Flower and dp-accounting, pinned in requirements.txt), created
 * on first use by tools/python-venv.sh and cached under ~/.cache/flops/venvs.
 */
export function oraclePython(): string {
  return execFileSync('bash', [join(ROOT, 'tools/python-venv.sh'), join(__dirname, 'requirements.txt')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

export interface BridgeAnswer {
  meta: Record<string, unknown>;
  tensors: NamedTensor[];
}

/** A running flower_bridge.py: requests and answers are FLT1 frames over its stdin and stdout. */
export class FlowerBridge {
  private buffered = Buffer.alloc(0);
  private waiting: { resolve: (frame: Buffer) => void; reject: (error: Error) => void }[] = [];
  private exited?: Error;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readUInt32LE(0)) {
        const length = this.buffered.readUInt32LE(0);
        const frame = this.buffered.subarray(4, 4 + length);
        this.buffered = this.buffered.subarray(4 + length);
        this.waiting.shift()?.resolve(Buffer.from(frame));
      }
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`flower_bridge.py exited (${code ?? signal})`);
      for (const waiter of this.waiting.splice(0)) waiter.reject(this.exited);
    });
  }

  /** Starts the bridge and waits until Flower is imported; `versions` says what answers. */
  static async start(python = oraclePython()): Promise<{ bridge: FlowerBridge; versions: Record<string, unknown> }> {
    const child = spawn(python, ['-u', join(__dirname, 'flower_bridge.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const bridge = new FlowerBridge(child);
    const ready = decodeTensors(await bridge.next());
    return { bridge, versions: ready.meta };
  }

  async request(meta: Record<string, unknown>, tensors: NamedTensor[] = []): Promise<BridgeAnswer> {
    const payload = encodeTensors(tensors, meta);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(payload.length, 0);
    const answer = this.next();
    this.child.stdin.write(Buffer.concat([head, payload]));
    const { meta: answerMeta, tensors: answerTensors } = decodeTensors(await answer);
    if (typeof answerMeta.error === 'string') throw new Error(`Flower: ${answerMeta.error}`);
    return { meta: answerMeta, tensors: answerTensors };
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    await exited;
  }

  private next(): Promise<Buffer> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
}

/** The bridge for a test file: started before its tests (installing the venv the first time), stopped after. */
export function useFlowerBridge(): { bridge: () => FlowerBridge; versions: () => Record<string, unknown> } {
  let started: { bridge: FlowerBridge; versions: Record<string, unknown> } | undefined;
  beforeAll(async () => {
    started = await FlowerBridge.start();
  }, 600_000);
  afterAll(async () => {
    await started?.bridge.stop();
  });
  return { bridge: () => started!.bridge, versions: () => started!.versions };
}

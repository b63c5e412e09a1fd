import { ChildProcessByStdio, spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import {
  ModelManager,
  NamedTensorLike,
  PYTHON_WORKER_FRAME_PREFIX_BYTES,
  PYTHON_WORKER_MODULE,
  PythonWorkerAnswer,
  PythonWorkerRequest,
} from '@flops/contracts';
import { decodeTensors, encodeTensors } from '@flops/tensor-codec';

/** The user's Python code raised, or the worker crashed or hung: the message says which, with the traceback. */
export class PythonWorkerError extends Error {}

export interface PythonWorkerOptions {
  python: string;
  /** Folder holding the flops_utils package (put on PYTHONPATH). */
  runtimeDir: string;
  /** One request that takes longer than this stops the worker. */
  taskTimeoutMs: number;
  /** Each line the worker (and the user's code) writes to stderr. */
  log: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Lines of the worker's stderr kept to explain a crash. */
const STDERR_TAIL_LINES = 30;
/** Room a reason leaves for the traceback: the contract caps reasons at MAX_REASON_LENGTH (4000). */
const TRACEBACK_CHARS = 3000;

/**
 * One Python worker process and its framed channel (libs/contracts/src/python-worker.ts): a request
 * at a time, each answered or failed. A worker that exits or exceeds the task timeout fails the
 * request in flight and every later one, with what it last wrote to stderr.
 */
export class PythonWorker {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly stderrTail: string[] = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending?: { op: string; resolve: (frame: Buffer) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };
  private gone?: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: PythonWorkerOptions) {
    const pythonPath = [options.runtimeDir, options.env?.PYTHONPATH ?? process.env.PYTHONPATH].filter(Boolean).join(':');
    this.child = spawn(options.python, ['-u', '-m', PYTHON_WORKER_MODULE], {
      env: { ...process.env, ...options.env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout.on('data', (chunk: Buffer) => this.received(chunk));
    let partial = '';
    this.child.stderr.setEncoding('utf8').on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.stderrLine(line);
    });
    this.child.stderr.on('end', () => partial && this.stderrLine(partial));
    this.child.stdin.on('error', () => undefined); // a dead worker shows as its exit, below
    this.child.on('error', (error) => this.end(`the Python worker could not start (${options.python}): ${error.message}`));
    this.child.on('exit', (code, signal) => this.end(`the Python worker exited (${signal ?? `code ${code}`})`));
  }

  /** Sends one request and resolves with the answer's meta and tensors; requests queue behind each other. */
  request(meta: PythonWorkerRequest, tensors: readonly NamedTensorLike[] = []): Promise<{ answer: PythonWorkerAnswer & { ok: true }; tensors: NamedTensorLike[] }> {
    const run = this.queue.then(() => this.exchange(meta, tensors));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Asks the worker to end, and kills it if it does not within a few seconds. */
  async close(): Promise<void> {
    if (this.gone) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.request({ op: 'close' }).catch(() => undefined);
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  }

  private async exchange(meta: PythonWorkerRequest, tensors: readonly NamedTensorLike[]): Promise<{ answer: PythonWorkerAnswer & { ok: true }; tensors: NamedTensorLike[] }> {
    if (this.gone) throw new PythonWorkerError(`${this.gone}${this.tail()}`);
    const document = encodeTensors(tensors, { ...meta });
    const prefix = Buffer.allocUnsafe(PYTHON_WORKER_FRAME_PREFIX_BYTES);
    prefix.writeUInt32LE(document.length, 0);
    const frame = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.end(`the Python worker did not finish '${meta.op}' within ${this.options.taskTimeoutMs / 1000} s (FLOPS_LEARNER_TASK_TIMEOUT_SECONDS) and was stopped`);
        this.child.kill('SIGKILL');
      }, this.options.taskTimeoutMs);
      this.pending = { op: meta.op, resolve, reject, timer };
      this.child.stdin.write(prefix);
      this.child.stdin.write(document);
    });
    const decoded = decodeTensors(frame);
    const answer = decoded.meta as PythonWorkerAnswer;
    if (!answer.ok) {
      const traceback = answer.traceback.trim();
      throw new PythonWorkerError(`${meta.op}: ${answer.error}${traceback ? `\n${traceback.slice(-TRACEBACK_CHARS)}` : ''}`);
    }
    return { answer, tensors: decoded.tensors };
  }

  private received(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= PYTHON_WORKER_FRAME_PREFIX_BYTES) {
      const head = this.chunks[0].length >= PYTHON_WORKER_FRAME_PREFIX_BYTES ? this.chunks[0] : Buffer.concat(this.chunks);
      const length = head.readUInt32LE(0);
      const total = PYTHON_WORKER_FRAME_PREFIX_BYTES + length;
      if (this.buffered < total) return;
      // At most one copy of a frame (joining its chunks); the tensors then decode as views of it.
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      const frame = all.subarray(PYTHON_WORKER_FRAME_PREFIX_BYTES, total);
      const rest = all.subarray(total);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      const pending = this.pending;
      this.pending = undefined;
      if (!pending) {
        this.end('the Python worker answered without a request');
        this.child.kill('SIGKILL');
        return;
      }
      clearTimeout(pending.timer);
      pending.resolve(frame);
    }
  }

  private stderrLine(line: string): void {
    this.options.log(line);
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
  }

  private end(reason: string): void {
    if (this.gone) return;
    this.gone = reason;
    const pending = this.pending;
    this.pending = undefined;
    if (pending) {
      clearTimeout(pending.timer);
      // Give stderr a moment to deliver the last lines (a crash's traceback) before reporting.
      setTimeout(() => pending.reject(new PythonWorkerError(`${reason} during '${pending.op}'${this.tail()}`)), 200);
    }
  }

  private tail(): string {
    const text = this.stderrTail.join('\n').trim();
    return text ? `; its last output:\n${text.slice(-TRACEBACK_CHARS)}` : '';
  }
}

/** Context the Python worker's load needs (what the learner was given). */
export interface PythonRepoContext {
  repoDir: string;
  dataDir?: string;
  dataTags: string[];
  partition: { index: number; count: number };
  seed: number;
}

/**
 * A repo in the original FLOps Python layout as the learner's ModelManager: every call is a request
 * to the worker; parameters cross as FLT1 tensors.
 */
export class PythonModelManager implements ModelManager {
  private constructor(private readonly worker: PythonWorker) {}

  static async load(worker: PythonWorker, context: PythonRepoContext): Promise<PythonModelManager> {
    await worker.request({
      op: 'load',
      repoDir: context.repoDir,
      ...(context.dataDir ? { dataDir: context.dataDir } : {}),
      dataTags: context.dataTags,
      learnerIndex: context.partition.index,
      learnerCount: context.partition.count,
      seed: context.seed,
    });
    return new PythonModelManager(worker);
  }

  async getWeights(): Promise<NamedTensorLike[]> {
    return (await this.worker.request({ op: 'get_weights' })).tensors;
  }

  async setWeights(tensors: NamedTensorLike[]): Promise<void> {
    await this.worker.request({ op: 'set_weights' }, tensors);
  }

  async fit(args: { round: number; hyperparameters: Record<string, number | string | boolean> }): Promise<{ numSamples: number; metrics: Record<string, number> }> {
    const { answer } = await this.worker.request({ op: 'fit', round: args.round, hyperparameters: args.hyperparameters });
    return { numSamples: answer.numSamples ?? 0, metrics: {} };
  }

  async evaluate(): Promise<{ numSamples: number; loss: number; accuracy: number }> {
    const { answer } = await this.worker.request({ op: 'evaluate' });
    // A null (non-finite) metric stays NaN here; the task runner drops it from the wire with a warning.
    return { numSamples: answer.numSamples ?? 0, loss: answer.loss ?? NaN, accuracy: answer.accuracy ?? NaN };
  }

  async dispose(): Promise<void> {
    await this.worker.close();
  }
}

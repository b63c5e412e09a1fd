import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Socket } from 'node:net';
import { WORKSPACE_ROOT, freePort } from './platform';

/**
 * A private instance of one infrastructure service (broker, registry, database) that a test may
 * stop and start again without disturbing the shared one of tools/infra.sh. Same binaries, same
 * kind of configuration, its own port and data folder.
 */
export class ScratchService {
  private child: ChildProcess | null = null;

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly url: string,
    private readonly command: () => [string, string[]],
  ) {}

  /** Starts it and waits until its port accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const [bin, args] = this.command();
    const child = spawn(bin, args, { stdio: 'ignore', detached: false });
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    const deadline = Date.now() + 60_000;
    while (!(await portOpen(this.port))) {
      if (!this.child) throw new Error(`${this.name} exited during start-up`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not listen on ${this.port} within 60 s`);
      await sleep(100);
    }
  }

  /** SIGKILL, as an outage looks to its clients. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((ok) => child.once('exit', ok));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  static async registry(dir: string): Promise<ScratchService> {
    const port = await freePort();
    mkdirSync(join(dir, 'registry'), { recursive: true });
    const config = join(dir, 'registry.yml');
    writeFileSync(
      config,
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'registry')}\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: scratch\n`,
    );
    return new ScratchService('registry', port, `http://127.0.0.1:${port}`, () => ['/usr/bin/docker-registry', ['serve', config]]);
  }

  static async broker(dir: string): Promise<ScratchService> {
    const port = await freePort();
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'mosquitto.conf');
    const user = process.getuid?.() === 0 ? 'user root\n' : '';
    writeFileSync(config, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n${user}`);
    const bin = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
    return new ScratchService('broker', port, `mqtt://127.0.0.1:${port}`, () => [bin, ['-c', config]]);
  }

  /** FerretDB from the binary tools/infra.sh built, on SQLite in `dir`. */
  static async database(dir: string): Promise<ScratchService> {
    const port = await freePort();
    const cache = process.env.FLOPS_CACHE_DIR ?? join(process.env.HOME ?? '/tmp', '.cache', 'flops');
    const bin = join(cache, 'bin', 'ferretdb-v1.24.0');
    if (!existsSync(bin)) throw new Error(`${bin} does not exist: run tools/infra.sh up first`);
    mkdirSync(join(dir, 'ferretdb', 'state'), { recursive: true });
    return new ScratchService('database', port, `mongodb://127.0.0.1:${port}/`, () => [
      bin,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${join(dir, 'ferretdb')}/`,
        `--state-dir=${join(dir, 'ferretdb', 'state')}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=error',
      ],
    ]);
  }

  static scratchDir(name: string): string {
    return join(WORKSPACE_ROOT, '.flops', 'test', name);
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => done(true));
  });
}

import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';

export const WORKSPACE_ROOT = resolve(__dirname, '../../..');

export type PlatformService = 'manager-api' | 'project-orchestrator' | 'builder-agent';

const PORT_VARIABLE: Record<PlatformService, string> = {
  'manager-api': 'FLOPS_MANAGER_PORT',
  'project-orchestrator': 'FLOPS_ORCHESTRATOR_PORT',
  'builder-agent': 'FLOPS_BUILDER_PORT',
};

/** Where the real infrastructure is; tools/infra.sh writes these. */
export function infraEnv(): Record<string, string> {
  return {
    FLOPS_MQTT_URL: process.env.FLOPS_MQTT_URL ?? 'mqtt://127.0.0.1:1883',
    FLOPS_REGISTRY_URL: process.env.FLOPS_REGISTRY_URL ?? 'http://127.0.0.1:5000',
    MONGO_URL: process.env.MONGO_URL ?? 'mongodb://127.0.0.1:27017/',
    // Tracking is on where tools/infra.sh started MLflow; its outages never fail a project.
    ...(process.env.FLOPS_MLFLOW_URL ? { FLOPS_MLFLOW_URL: process.env.FLOPS_MLFLOW_URL } : {}),
  };
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => ok(port));
    });
  });
}

/**
 * The platform services as real, separate processes on the real infrastructure, isolated from
 * any other FLOps on this machine by their own database, MQTT client ids, builder group and
 * data folder. Tests may kill and restart any of them.
 */
export class PlatformUnderTest {
  readonly runId = `t${randomBytes(5).toString('hex')}`;
  readonly dbName = `flops_${this.runId}`;
  readonly dataDir: string;
  readonly logDir: string;
  private readonly processes = new Map<PlatformService, ChildProcess>();
  private readonly ports = new Map<PlatformService, number>();
  /** Environment for the next start of a service only (e.g. a fault to inject once). */
  private readonly onceEnv = new Map<PlatformService, Record<string, string>>();

  constructor(private readonly extraEnv: Record<string, string> = {}) {
    this.dataDir = join(WORKSPACE_ROOT, '.flops', 'test', this.runId);
    this.logDir = join(this.dataDir, 'logs');
    mkdirSync(this.logDir, { recursive: true });
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.ports.get('manager-api')}`;
  }

  env(service: PlatformService): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NO_COLOR: '1',
      ...infraEnv(),
      FLOPS_DB_NAME: this.dbName,
      FLOPS_ORCHESTRATOR_CLIENT_ID: `${this.runId}-orchestrator`,
      FLOPS_BUILDER_CLIENT_ID: `${this.runId}-builder`,
      FLOPS_BUILDER_GROUP: `${this.runId}-builders`,
      FLOPS_BUILDER_WORK_DIR: join(this.dataDir, 'builder'),
      FLOPS_DATA_DIR: join(this.dataDir, 'data'),
      FLOPS_SWEEP_INTERVAL_MS: '500',
      [PORT_VARIABLE[service]]: String(this.ports.get(service)),
      ...this.extraEnv,
      ...this.onceEnv.get(service),
    };
  }

  /** Start one service with extra environment for this run of it only (later starts go without). */
  async startWith(service: PlatformService, env: Record<string, string>): Promise<void> {
    this.onceEnv.set(service, env);
    try {
      await this.start(service);
    } finally {
      this.onceEnv.delete(service);
    }
  }

  /** Waits until a service ends by itself (e.g. an injected crash); its signal or exit code. */
  async exited(service: PlatformService, timeoutMs: number): Promise<string> {
    const child = this.processes.get(service);
    if (!child) throw new Error(`${service} was not started`);
    const how = () => child.signalCode ?? (child.exitCode === null ? null : `code ${child.exitCode}`);
    if (how() === null) {
      await Promise.race([
        new Promise((ok) => child.once('exit', ok)),
        sleep(timeoutMs).then(() => {
          throw new Error(`${service} did not end within ${timeoutMs} ms`);
        }),
      ]);
    }
    this.processes.delete(service);
    return how()!;
  }

  async start(...services: PlatformService[]): Promise<void> {
    for (const service of services) {
      if (!this.ports.has(service)) this.ports.set(service, await freePort());
      const log = createWriteStream(join(this.logDir, `${service}.log`), { flags: 'a' });
      // The compiled app, as in production (the jest setup of the integration and e2e tiers builds it).
      const entry = join(WORKSPACE_ROOT, 'dist', 'apps', service, 'main.cjs');
      if (!existsSync(entry)) throw new Error(`${entry} does not exist: build the apps first (npx nx run-many -t build)`);
      const child = spawn(process.execPath, [entry], {
        cwd: WORKSPACE_ROOT,
        env: this.env(service),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.pipe(log);
      child.stderr.pipe(log);
      this.processes.set(service, child);
    }
    await Promise.all(services.map((s) => this.waitHealthy(s)));
  }

  /** SIGKILL: no shutdown hooks, no goodbyes — a crash. */
  async kill(service: PlatformService): Promise<void> {
    const child = this.processes.get(service);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((ok) => child.once('exit', ok));
    child.kill('SIGKILL');
    await exited;
    this.processes.delete(service);
  }

  isRunning(service: PlatformService): boolean {
    const child = this.processes.get(service);
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.processes.entries()].map(async ([service, child]) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM');
        const timeout = sleep(10_000).then(() => child.kill('SIGKILL'));
        await Promise.race([exited, timeout]);
        this.processes.delete(service);
      }),
    );
  }

  log(service: string): string {
    try {
      return readFileSync(join(this.logDir, `${service}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  async healthy(service: PlatformService): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.ports.get(service)}/health`, { signal: AbortSignal.timeout(2000) });
      return res.ok;
    } catch {
      return false;
    }
  }

  private async waitHealthy(service: PlatformService): Promise<void> {
    // A restarted orchestrator resumes its projects before it listens; on a loaded machine that takes a while.
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (await this.healthy(service)) return;
      if (!this.isRunning(service)) break;
      await sleep(200);
    }
    throw new Error(`${service} did not become healthy:\n${this.log(service).split('\n').slice(-30).join('\n')}`);
  }
}

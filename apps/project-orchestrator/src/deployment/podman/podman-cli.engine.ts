import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ContainerEngine, ContainerEnd, ContainerRun, ContainerStatus } from './container-engine';

const execFileAsync = promisify(execFile);

export interface PodmanSettings {
  /** The podman binary. */
  bin: string;
  /** OCI runtime (`runc`: crun refuses this machine's hybrid cgroups). */
  runtime: string;
  /** `--network` of every container; `host` lets it reach the loopback broker, registry and data plane. */
  network: string;
  /** `name=soft:hard` each; podman's defaults exceed what an unprivileged host allows ("error setting rlimits"). */
  ulimits: readonly string[];
  /** Registries (`host:port`) pulled from over plain HTTP. */
  insecureRegistries: readonly string[];
  /**
   * One folder per container is made here, the working directory of its `podman run`: conmon
   * 2.1 writes its OOM marker (`oom`) into that directory, and podman on cgroup v1 misses it.
   */
  stateDir: string;
}

/** What `podman run` gets for a container, apart from the binary. Pure. */
export function podmanRunArgs(run: ContainerRun, settings: PodmanSettings): string[] {
  const args = ['run', '--detach', '--pull=never', '--name', run.name, '--runtime', settings.runtime, '--network', settings.network];
  // Passthrough: the container writes to the very file descriptors podman got (our log file), so
  // its log keeps growing when the orchestrator is gone, and needs no re-attaching.
  args.push('--log-driver', 'passthrough');
  for (const limit of settings.ulimits) args.push('--ulimit', limit);
  if (run.memoryMiB !== undefined) {
    const bytes = `${Math.ceil(run.memoryMiB)}m`;
    args.push('--memory', bytes, '--memory-swap', bytes); // same value: no swap on top of the limit
  }
  if (run.cpus !== undefined) args.push('--cpus', String(run.cpus));
  for (const m of run.mounts ?? []) args.push('--volume', `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`);
  for (const [key, value] of Object.entries(run.labels)) args.push('--label', `${key}=${value}`);
  for (const [key, value] of Object.entries(run.env)) args.push('--env', `${key}=${value}`);
  args.push(run.image);
  return args;
}

export function podmanPullArgs(image: string, settings: PodmanSettings): string[] {
  const registry = image.split('/')[0];
  const insecure = settings.insecureRegistries.includes(registry);
  return ['pull', '--quiet', ...(insecure ? ['--tls-verify=false'] : []), image];
}

interface PodmanPsEntry {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Exited: boolean;
  ExitCode: number;
  Labels: Record<string, string> | null;
}

/** Podman states in which a container will not run again by itself. */
const ENDED_STATES = new Set(['exited', 'stopped', 'removing', 'dead']);

/** Drives the podman CLI (Debian's podman 4.3 here). Every call is one short-lived `podman` process. */
export class PodmanCliEngine extends ContainerEngine {
  constructor(private readonly settings: PodmanSettings) {
    super();
  }

  async pull(image: string): Promise<void> {
    // Pulled by digest, an image already here is used as is: podman does not ask the registry.
    if (image.includes('@') && (await this.podman(['image', 'exists', image]).then(() => true, () => false))) return;
    await this.podman(podmanPullArgs(image, this.settings));
  }

  async run(run: ContainerRun): Promise<string> {
    mkdirSync(dirname(run.logFile), { recursive: true });
    const stateDir = this.stateDirOf(run.name);
    rmSync(stateDir, { recursive: true, force: true });
    mkdirSync(stateDir, { recursive: true });
    const offset = fileSize(run.logFile);
    const fd = openSync(run.logFile, 'a');
    let code: number | null;
    try {
      // Podman's own errors land in the log too (it shares the container's descriptors): read them back on failure.
      code = await new Promise<number | null>((ok, fail) => {
        const child = spawn(this.settings.bin, podmanRunArgs(run, this.settings), { cwd: stateDir, stdio: ['ignore', fd, fd] });
        child.once('error', fail);
        child.once('exit', (c) => ok(c));
      });
    } finally {
      closeSync(fd);
    }
    if (code !== 0) {
      const output = readFrom(run.logFile, offset).trim();
      await this.podman(['rm', '--force', '--ignore', run.name]).catch(() => undefined);
      throw new Error(`podman run ${run.name} failed (exit ${code}): ${output || 'no output'}`);
    }
    const { stdout } = await this.podman(['inspect', '--format', '{{.Id}}', run.name]);
    return stdout.trim();
  }

  async list(labels: Record<string, string>): Promise<ContainerStatus[]> {
    const filters = Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);
    const { stdout } = await this.podman(['ps', '--all', '--format', 'json', ...filters]);
    const entries = JSON.parse(stdout || '[]') as PodmanPsEntry[];
    return entries.map((e) => {
      const running = !ENDED_STATES.has(e.State);
      return { id: e.Id, name: e.Names[0], image: e.Image, running, exitCode: running ? null : e.ExitCode, labels: e.Labels ?? {} };
    });
  }

  async ended(id: string): Promise<ContainerEnd | null> {
    const out = await this.podman(['inspect', '--format', '{"name":{{json .Name}},"state":{{json .State}},"memory":{{.HostConfig.Memory}}}', id]).catch(() => null);
    if (!out) return null;
    const { name, state, memory } = JSON.parse(out.stdout) as { name: string; state: { Status: string; ExitCode: number; OOMKilled: boolean }; memory: number };
    if (!ENDED_STATES.has(state.Status)) return null;
    const oomKilled = state.OOMKilled || existsSync(join(this.stateDirOf(name), 'oom'));
    return { exitCode: state.ExitCode, oomKilled, memoryLimitBytes: memory > 0 ? memory : null };
  }

  async remove(id: string, stopTimeoutSeconds: number): Promise<void> {
    await this.podman(['stop', '--ignore', '--time', String(stopTimeoutSeconds), id]);
    const name = (await this.podman(['inspect', '--format', '{{.Name}}', id]).catch(() => null))?.stdout.trim();
    await this.podman(['rm', '--force', '--ignore', id]);
    if (name) rmSync(this.stateDirOf(name), { recursive: true, force: true });
  }

  private stateDirOf(name: string): string {
    return join(this.settings.stateDir, name);
  }

  private async podman(args: string[]): Promise<{ stdout: string; stderr: string }> {
    try {
      return await execFileAsync(this.settings.bin, args, { maxBuffer: 64 * 1024 * 1024 });
    } catch (error) {
      const e = error as { stderr?: string; code?: number | string; message: string };
      const detail = (e.stderr ?? '').trim() || e.message;
      throw new Error(`podman ${args[0]} failed: ${detail}`);
    }
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** The file's text from `offset` on (at most the last 8 KiB of it). */
function readFrom(path: string, offset: number): string {
  const size = fileSize(path);
  const start = Math.max(offset, size - 8192);
  if (size <= start) return '';
  const buffer = Buffer.alloc(size - start);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, start);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('utf8');
}

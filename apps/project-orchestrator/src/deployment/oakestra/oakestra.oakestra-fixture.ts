import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { OakestraHttpClient } from './oakestra-http.client';

const run = promisify(execFile);

/**
 * The Oakestra that tools/oakestra.sh started (its env file is loaded by tools/test.sh, or read
 * here), and FLOps's registry from tools/infra.sh.
 */
export function oakestraEnv(): { url: string; user: string; password: string; netUrl: string; cluster: string; registryUrl: string } {
  const need = (name: string): string => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run tools/oakestra.sh up and tools/infra.sh up, then load .flops/oakestra/env and .flops/infra/env`);
    return v;
  };
  return {
    url: need('FLOPS_OAKESTRA_URL'),
    user: need('FLOPS_OAKESTRA_USER'),
    password: need('FLOPS_OAKESTRA_PASSWORD'),
    netUrl: need('FLOPS_OAKESTRA_NET_URL'),
    cluster: need('FLOPS_OAKESTRA_CLUSTER'),
    registryUrl: need('FLOPS_REGISTRY_URL'),
  };
}

export function oakestraClient(): OakestraHttpClient {
  const env = oakestraEnv();
  return new OakestraHttpClient({ url: env.url, user: env.user, password: env.password, netUrl: env.netUrl });
}

/** Tasks in containerd's `oakestra` namespace (where Oakestra's NodeEngine runs containers): name → status. */
export async function workerTasks(): Promise<Map<string, string>> {
  const { stdout } = await run('ctr', ['-n', 'oakestra', 'tasks', 'ls']);
  const tasks = new Map<string, string>();
  for (const line of stdout.split('\n').slice(1)) {
    const [name, , status] = line.trim().split(/\s+/);
    if (name && status) tasks.set(name, status);
  }
  return tasks;
}

/** What a worker container wrote: NodeEngine logs each task to <app_logs>/<task id>. */
export async function workerTaskLog(task: string): Promise<string> {
  const conf = JSON.parse(await readFile('/etc/oakestra/conf.json', 'utf8')) as { app_logs: string };
  return readFile(`${conf.app_logs}/${task}`, 'utf8').catch(() => '');
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : JSON.stringify(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from 'mongoose';
import { ComponentEnvironment } from '@flops/contracts';
import { DeploymentRecord, deploymentModel } from '@flops/models';
import { PlatformUnderTest } from './platform';

/** A live process (zombies, already dead but not reaped, do not count). */
export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `check` until it holds; throws after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Pids of the live processes whose environment names this project: its components, recorded or not. */
export function processesOfProject(projectId: string): number[] {
  const variable: keyof ComponentEnvironment = 'FLOPS_PROJECT_ID';
  const marker = `${variable}=${projectId}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (`${readFileSync(join('/proc', entry, 'environ'), 'latin1')}\0`.includes(marker) && processAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/**
 * What a project left behind after its end: records still marked running, recorded processes
 * still alive, and unrecorded processes carrying its id. Empty when the clean-up was complete.
 * The clean-up runs right after the terminal state is written, so this waits for it a while.
 */
export async function leftoversOf(db: Connection, projectId: string, timeoutMs = 30_000): Promise<string[]> {
  const find = async (): Promise<string[]> => {
    const records = await deploymentModel(db).find({ projectId }).lean<DeploymentRecord[]>().exec();
    return [
      ...records.filter((d) => d.status === 'running').map((d) => `${d._id} is recorded as running`),
      ...records.filter((d) => processAlive(d.handle.pid)).map((d) => `${d._id} (pid ${d.handle.pid}) is alive`),
      ...processesOfProject(projectId).map((pid) => `pid ${pid} carries ${projectId} and is alive`),
    ];
  };
  const deadline = Date.now() + timeoutMs;
  let left = await find();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(250);
    left = await find();
  }
  return left;
}

/** Prints the tail of each service's log when the test that just ran had a failed assertion. */
export function printLogsOfFailedTest(platform: PlatformUnderTest, services: string[], lines = 40): void {
  const state = expect.getState();
  if (state.assertionCalls === state.numPassingAsserts) return;
  for (const service of services) {
    console.log(`---- ${service} log (tail)\n${platform.log(service).split('\n').slice(-lines).join('\n')}`);
  }
}

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeTensors } from '@flops/tensor-codec';
import { PlatformUnderTest, WORKSPACE_ROOT, exampleRepoCopy, freePort } from '@flops/testing';

// Generous: other engineers' tests share this 2-core machine.
jest.setTimeout(420_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `npx flops …` exactly as a user types it (the workspace bin, the built CLI), against the whole
 * platform as separate processes on the real broker, registry and database.
 */
describe('the flops CLI, end to end', () => {
  const platform = new PlatformUnderTest();
  const repo = exampleRepoCopy({ git: true });
  const scratch = mkdtempSync(join(tmpdir(), 'flops-cli-'));

  function flops(args: string[], options: { api?: string; timeoutMs?: number } = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn('npx', ['--no-install', 'flops', '--api', options.api ?? platform.apiUrl, ...args], {
        cwd: WORKSPACE_ROOT,
        env: { ...process.env, NO_COLOR: '1', FLOPS_CLI_POLL_MS: '300' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`flops ${args.join(' ')} did not end in ${options.timeoutMs ?? 300_000} ms:\n${stdout}\n${stderr}`));
      }, options.timeoutMs ?? 300_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  const jsonOf = <T>(run: Run): T => {
    try {
      return JSON.parse(run.stdout) as T;
    } catch {
      throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
    }
  };

  beforeAll(async () => {
    await platform.start('project-orchestrator', 'builder-agent', 'manager-api');
  });

  afterAll(async () => {
    await platform.stop();
    repo.remove();
    rmSync(scratch, { recursive: true, force: true });
  });

  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) {
      for (const svc of ['project-orchestrator', 'builder-agent', 'manager-api']) {
        console.log(`---- ${svc} log (tail)\n${platform.log(svc).split('\n').slice(-40).join('\n')}`);
      }
    }
  });

  let completed: { id: string; name: string };

  it('submits the bundled example from a git URL, watches it to COMPLETED, shows it, lists it and prints its logs', async () => {
    const submit = await flops(['--json', 'submit', `file://${repo.dir}`, '--ref', 'main', '--name', 'cli-digits', '--rounds', '3', '--learners', '2', '--hp', 'epochs=1']);
    expect(submit.code).toBe(0);
    const project = jsonOf<{ id: string; name: string; state: string; repo: { url: string; ref: string }; training: { rounds: number } }>(submit);
    expect(project).toMatchObject({ name: 'cli-digits', state: 'SUBMITTED', repo: { url: `file://${repo.dir}`, ref: 'main' }, training: { rounds: 3 } });
    completed = project;

    // Not a terminal: one line per change, then the outcome; exit 0 because it completed.
    const watch = await flops(['watch', project.id]);
    expect(watch.stderr).toBe('');
    expect(watch.code).toBe(0);
    const lines = watch.stdout.trim().split('\n');
    expect(lines.some((l) => /^TRAINING\s+round [0-3]\/3/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^COMPLETED\s+accuracy 0\.\d+\s+loss /);

    const show = await flops(['--json', 'show', project.id]);
    expect(show.code).toBe(0);
    const detail = jsonOf<{ state: string; rounds: { round: number; learnerMetrics?: Record<string, Record<string, number>> }[]; components: { component: string }[] }>(show);
    expect(detail.state).toBe('COMPLETED');
    expect(detail.rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    // Per learner too, as the aggregator reported each learner's evaluation.
    expect(Object.keys(detail.rounds[2].learnerMetrics ?? {}).sort()).toEqual(['learner-0', 'learner-1']);
    const human = await flops(['show', project.id]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^${project.id}\\s+cli-digits\\s+COMPLETED`));
    expect(human.stdout).toMatch(/rounds\n\s+1\s+2 learners\s+accuracy/);

    const list = await flops(['--json', 'list', '--state', 'COMPLETED']);
    expect(list.code).toBe(0);
    expect(jsonOf<{ items: { id: string }[] }>(list).items.map((p) => p.id)).toContain(project.id);
    const table = await flops(['list']);
    expect(table.stdout).toMatch(new RegExp(`${project.id}\\s+cli-digits\\s+COMPLETED\\s+3/3`));

    const builderLog = await flops(['logs', project.id, 'builder']);
    expect(builderLog.code).toBe(0);
    expect(builderLog.stdout).toMatch(/built .*sha256:[a-f0-9]{64}/);
    const allLogs = await flops(['--json', 'logs', project.id]);
    expect(allLogs.code).toBe(0);
    const byComponent = new Set(jsonOf<{ component: string; line: string }[]>(allLogs).map((l) => l.component));
    expect([...byComponent].sort()).toEqual(['aggregator', 'builder', 'learner-0', 'learner-1']);
  });

  it('lists the trained model and pulls it to a file that decodes to the model tensors', async () => {
    const models = await flops(['--json', 'models', 'list']);
    expect(models.code).toBe(0);
    const rows = jsonOf<{ id: string; model: { sizeBytes: number; digest: string }; finalMetrics: Record<string, number> }[]>(models);
    const row = rows.find((r) => r.id === completed.id);
    expect(row?.finalMetrics.accuracy).toBeGreaterThan(0.5);

    const file = join(scratch, 'model.flt1');
    const pull = await flops(['--json', 'models', 'pull', completed.id, '-o', file]);
    expect(pull.code).toBe(0);
    const pulled = jsonOf<{ file: string; sizeBytes: number }>(pull);
    expect(pulled.file).toBe(file);
    const bytes = readFileSync(file);
    expect(bytes.byteLength).toBe(pulled.sizeBytes);
    const tensors = decodeTensors(new Uint8Array(bytes)).tensors;
    expect(tensors.length).toBeGreaterThan(0);
    expect(tensors.every((t) => t.values.length > 0 && [...t.values].every(Number.isFinite))).toBe(true);
  });

  it('cancels a running project submitted from a config file; watching it then exits 1, cancelling again is bad usage', async () => {
    const config = join(scratch, 'project.json');
    writeFileSync(config, JSON.stringify({ name: 'cli-cancel', repo: { url: repo.dir }, training: { rounds: 50, learners: 2, hyperparameters: { epochs: 1 } } }));
    const submit = await flops(['--json', 'submit', '--config', config]);
    expect(submit.code).toBe(0);
    const { id } = jsonOf<{ id: string }>(submit);

    const cancel = await flops(['--json', 'cancel', id, '--reason', 'from the CLI test']);
    expect(cancel.code).toBe(0);
    expect(jsonOf<{ id: string }>(cancel).id).toBe(id);

    const watch = await flops(['--json', 'watch', id]);
    expect(watch.code).toBe(1);
    const ended = jsonOf<{ state: string; history: { reason?: string }[] }>(watch);
    expect(ended.state).toBe('CANCELLED');
    expect(ended.history.some((h) => h.reason === 'from the CLI test')).toBe(true);

    const again = await flops(['--json', 'cancel', id]);
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stderr)).toMatchObject({ exitCode: 2, status: 409 });
  });

  it('exits 1 when the project fails, 2 on bad usage or a refused request, 3 when the API is unreachable', async () => {
    const broken = exampleRepoCopy({ change: (dir) => rmSync(join(dir, 'flops.json')) });
    try {
      const failed = await flops(['submit', broken.dir, '--rounds', '1', '--learners', '1', '--watch']);
      expect(failed.code).toBe(1);
      expect(failed.stdout.trim().split('\n').at(-1)).toMatch(/^FAILED: .*flops\.json is missing/);
    } finally {
      broken.remove();
    }

    // Refused by the CLI itself
    for (const args of [['submit', repo.dir, '--rounds', 'three', '--learners', '2'], ['submit', repo.dir], ['frobnicate'], ['show']]) {
      const run = await flops(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).not.toBe('');
    }
    // Refused by the API: every message, by field, for scripts
    const invalid = await flops(['--json', 'submit', repo.dir, '--rounds', '0', '--learners', '2']);
    expect(invalid.code).toBe(2);
    const refusal = JSON.parse(invalid.stderr) as { status: number; messages: string[] };
    expect(refusal.status).toBe(400);
    expect(refusal.messages.some((m) => m.startsWith('training.rounds'))).toBe(true);
    const unknown = await flops(['show', 'no-such-project']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/project no-such-project does not exist/);

    const closed = await freePort();
    const down = await flops(['--json', 'list'], { api: `http://127.0.0.1:${closed}` });
    expect(down.code).toBe(3);
    expect(JSON.parse(down.stderr)).toMatchObject({ exitCode: 3 });
  });
});

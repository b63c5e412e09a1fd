import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from 'mongoose';
import { connectDatabase } from '@flops/models';
import { ApiClient, PlatformUnderTest, SKLEARN_EXAMPLE_REPO, WORKSPACE_ROOT, exampleRepoCopy, infraEnv, leftoversOf, printLogsOfFailedTest } from '@flops/testing';

// The first Python project creates the layered venv of the example's dependencies (a minute or more on a loaded machine).
jest.setTimeout(1_200_000);

const ROUNDS = 5;
const LEARNERS = 3;
const TAG = 'digits';
const RUNTIME = join(WORKSPACE_ROOT, 'python');
const training = (overrides: Record<string, unknown> = {}) => ({
  rounds: ROUNDS,
  learners: LEARNERS,
  hyperparameters: {},
  dataTags: [TAG],
  roundTimeoutSeconds: 300,
  seed: 42,
  ...overrides,
});

/**
 * A repo in the original FLOps Python layout (examples/digits-sklearn, unchanged), submitted to the
 * whole platform: the learners drive it through Python workers, with their data from the node data
 * directory the mock data provider filled.
 */
describe('a Python project in the original FLOps layout, end to end', () => {
  const nodeData = mkdtempSync(join(tmpdir(), 'flops-nodedata-'));
  const platform = new PlatformUnderTest({ FLOPS_NODE_DATA_DIR: nodeData });
  const repo = exampleRepoCopy({ git: true, example: SKLEARN_EXAMPLE_REPO });
  let api: ApiClient;
  let db: Connection;
  let python: string;

  beforeAll(async () => {
    python = execFileSync('bash', [join(WORKSPACE_ROOT, 'tools/python-venv.sh'), join(RUNTIME, 'requirements.txt')], { encoding: 'utf8' }).trim();
    execFileSync(python, ['-m', 'flops_utils.mock_data_provider', '--data-dir', nodeData, '--tag', TAG, '--partitions', String(LEARNERS), '--seed', '7'], {
      env: { ...process.env, PYTHONPATH: RUNTIME },
    });
    await platform.start('project-orchestrator', 'builder-agent', 'manager-api');
    api = await ApiClient.checked(platform.apiUrl);
    db = await connectDatabase(infraEnv().MONGO_URL, platform.dbName);
  });

  afterAll(async () => {
    await platform.stop();
    await db?.close();
    repo.remove();
    rmSync(nodeData, { recursive: true, force: true });
  });

  afterEach(() => printLogsOfFailedTest(platform, ['project-orchestrator', 'builder-agent']));

  /** Every component a project started has ended, and the driver recorded it. */
  async function expectNothingRunning(projectId: string): Promise<void> {
    expect(await leftoversOf(db, projectId)).toEqual([]);
  }

  it('builds, trains every round and ends COMPLETED within 0.05 of centralised training on the same data', async () => {
    const submitted = await api.submit({ repo: { url: repo.dir, ref: 'main' }, training: training() });
    const project = await api.waitForEnd(submitted.id, 900_000);
    expect(project.failure).toBeUndefined();
    expect(project.state).toBe('COMPLETED');
    expect(project.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5]);

    const centralised = JSON.parse(
      execFileSync(python, ['centralised.py', '--data-dir', nodeData, '--tag', TAG, '--partitions', String(LEARNERS), '--rounds', String(ROUNDS)], {
        cwd: SKLEARN_EXAMPLE_REPO,
        env: { ...process.env, PYTHONPATH: RUNTIME, PYTHONDONTWRITEBYTECODE: '1' },
        encoding: 'utf8',
      }),
    ) as { accuracy: number; testSamples: number };
    const federated = project.finalMetrics!.accuracy;
    expect(centralised.accuracy).toBeGreaterThan(0.9);
    expect(federated).toBeGreaterThanOrEqual(centralised.accuracy - 0.05);
    // Every learner evaluated its partition's test split: together they are the centralised test set.
    expect(project.rounds.at(-1)!.learners).toBe(LEARNERS);
    await expectNothingRunning(project.id);
  });

  it("fails the project with the Python traceback when the repo's code raises", async () => {
    const raising = exampleRepoCopy({
      example: SKLEARN_EXAMPLE_REPO,
      change: (dir) =>
        writeFileSync(
          join(dir, 'model_manager.py'),
          [
            'from flops_utils.ml_repo_templates import ModelManagerTemplate',
            'class ModelManager(ModelManagerTemplate):',
            '    def set_model_data(self):',
            '        self._read_labels()',
            '    def _read_labels(self):',
            '        raise ValueError("labels.csv has 3 columns, expected 2")',
            '    get_model = get_model_parameters = set_model_parameters = fit_model = evaluate_model = lambda self, *a: None',
          ].join('\n'),
        ),
    });
    try {
      const submitted = await api.submit({ repo: { url: raising.dir }, training: training({ learners: 2, dataTags: [TAG] }) });
      const project = await api.waitForEnd(submitted.id, 600_000);
      expect(project.state).toBe('FAILED');
      expect(project.failure!.reason).toMatch(/ValueError: labels\.csv has 3 columns, expected 2/);
      expect(project.failure!.reason).toMatch(/Traceback \(most recent call last\)[\s\S]*in _read_labels/);
      await expectNothingRunning(project.id);
    } finally {
      raising.remove();
    }
  });

  it('fails the project naming the package pip could not install, and a learner without data says so', async () => {
    const unresolvable = exampleRepoCopy({
      example: SKLEARN_EXAMPLE_REPO,
      change: (dir) => writeFileSync(join(dir, 'requirements.txt'), 'numpy\nflops-no-such-package-e2e==0.0.1\n'),
    });
    try {
      const submitted = await api.submit({ repo: { url: unresolvable.dir }, training: training({ learners: 1 }) });
      const project = await api.waitForEnd(submitted.id, 600_000);
      expect(project.state).toBe('FAILED');
      expect(project.failure!.reason).toMatch(/could not install the repo's Python dependencies from requirements\.txt/);
      expect(project.failure!.reason).toMatch(/No matching distribution found for flops-no-such-package-e2e==0\.0\.1/);
      await expectNothingRunning(project.id);

      const noData = await api.submit({ repo: { url: repo.dir, ref: 'main' }, training: training({ learners: 1, dataTags: ['cifar10'] }) });
      const failed = await api.waitForEnd(noData.id, 600_000);
      expect(failed.state).toBe('FAILED');
      expect(failed.failure!.reason).toMatch(/no data for the data tags \['cifar10'\] on this node/);
    } finally {
      unresolvable.remove();
    }
  });
});

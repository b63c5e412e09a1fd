import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient, PlatformUnderTest, ProjectJson, exampleRepoCopy } from '@flops/testing';

jest.setTimeout(1_800_000);

/**
 * The bundled example with one poisoned learner, as a test fixture: with the hyperparameter `poison`, the
 * learner of the last partition sends `scaled-flip` (the global model minus 100 × its honest change) or
 * `nan` (every value NaN) instead of its trained weights. The others are the example, unchanged.
 */
const POISONED_ENTRY = `
const example = require('./model_manager.js');
exports.createModelManager = async (ctx) => {
  const inner = await example.createModelManager(ctx);
  const mode = ctx.hyperparameters.poison;
  if (!mode || ctx.partition.index !== ctx.partition.count - 1) return inner;
  let global = null;
  return {
    ...inner,
    async setWeights(tensors) {
      global = tensors.map((t) => Float32Array.from(t.values));
      return inner.setWeights(tensors);
    },
    async getWeights() {
      const weights = await inner.getWeights();
      if (!global) return weights; // initial weights: honest
      return weights.map((t, i) => ({
        ...t,
        values: t.values.map((v, j) => (mode === 'nan' ? NaN : global[i][j] - 100 * (v - global[i][j]))),
      }));
    },
  };
};
`;

const ROUNDS = 3;
const training = (overrides: Record<string, unknown> = {}) => ({
  rounds: ROUNDS,
  learners: 4,
  roundTimeoutSeconds: 60,
  seed: 42,
  ...overrides,
  hyperparameters: { epochs: 3, ...(overrides.hyperparameters as object) },
});

/**
 * The FL engine through the whole platform (real broker, database, registry, learner processes): robust
 * strategies against a poisoned learner, refused updates counted on the project, FedProx and SCAFFOLD with
 * their learner side, central DP with the privacy spent per round.
 */
describe('strategies, end to end', () => {
  const platform = new PlatformUnderTest();
  const repo = exampleRepoCopy({
    git: true,
    change: (dir) => {
      writeFileSync(join(dir, 'poisoned.js'), POISONED_ENTRY);
      writeFileSync(join(dir, 'flops.json'), JSON.stringify({ contract: 'flops/v1', name: 'digits-poisoned', runtime: 'tfjs-4', entry: 'poisoned.js' }));
    },
  });
  let api: ApiClient;

  beforeAll(async () => {
    await platform.start('project-orchestrator', 'builder-agent', 'manager-api');
    api = await ApiClient.checked(platform.apiUrl);
  });

  afterAll(async () => {
    await platform.stop();
    repo.remove();
  });

  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) {
      for (const svc of ['project-orchestrator', 'manager-api']) {
        console.log(`---- ${svc} log (tail)\n${platform.log(svc).split('\n').slice(-40).join('\n')}`);
      }
    }
  });

  /**
   * A submission, retried (a few times) when the server had just closed the idle keep-alive connection the request went
   * out on (undici: "other side closed"): the request was never read, so nothing was stored.
   */
  async function submit(t: Record<string, unknown>): Promise<ProjectJson> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await api.submit({ repo: { url: repo.dir, ref: 'main' }, training: t });
      } catch (error) {
        const cause = (error as { cause?: { message?: string } }).cause;
        // By name: fetch's TypeError comes from Node's realm, not the test's, so instanceof never matches.
        if (attempt >= 5 || (error as Error).name !== 'TypeError' || !/other side closed/.test(cause?.message ?? '')) throw error;
        await sleep(500 * 2 ** attempt);
      }
    }
  }

  /** Runs projects two at a time (a loaded 2-core machine), each to its end. */
  async function runAll(trainings: Record<string, unknown>[]): Promise<ProjectJson[]> {
    const ended: ProjectJson[] = [];
    for (let i = 0; i < trainings.length; i += 2) {
      const batch: ProjectJson[] = [];
      for (const t of trainings.slice(i, i + 2)) batch.push(await submit(t));
      ended.push(...(await Promise.all(batch.map((p) => api.waitForEnd(p.id, 600_000)))));
    }
    return ended;
  }

  const accuracy = (p: ProjectJson): number => p.finalMetrics?.accuracy ?? 0;
  let honest: ProjectJson;

  it('robust strategies stay within 0.05 of the honest-only accuracy with a sign-flipped ×100 learner; FedAvg does not', async () => {
    const poison = { hyperparameters: { poison: 'scaled-flip' } };
    const [baseline, fedavg, krum, multikrum, median, trimmed] = await runAll([
      training(),
      training({ ...poison }),
      training({ ...poison, strategy: 'krum', strategyParams: { numMalicious: 1 } }),
      training({ ...poison, strategy: 'multikrum', strategyParams: { numMalicious: 1, numToSelect: 2 } }),
      training({ ...poison, strategy: 'fedmedian' }),
      // int(beta · 4) = 1 update cut at each end of every coordinate (Flower's rule)
      training({ ...poison, strategy: 'fedtrimmedavg', strategyParams: { beta: 0.25 } }),
    ]);
    honest = baseline;
    expect(baseline.state).toBe('COMPLETED');
    expect(accuracy(baseline)).toBeGreaterThanOrEqual(0.85);
    // FedAvg averages the poisoned update in: it fails or ends far below
    expect(fedavg.state !== 'COMPLETED' || accuracy(fedavg) < accuracy(baseline) - 0.05).toBe(true);
    const outcomes = [krum, multikrum, median, trimmed].map((p) => ({ strategy: p.training?.strategy, state: p.state, accuracy: accuracy(p), failure: p.failure }));
    expect(outcomes.filter((o) => o.state !== 'COMPLETED' || o.accuracy < accuracy(baseline) - 0.05)).toEqual([]);
    expect(krum.training?.strategyParams).toEqual({ numMalicious: 1 });
  });

  it('refuses NaN updates, counts them per learner on the project, and trains on without them', async () => {
    const [project] = await runAll([training({ minLearnersPerRound: 3, hyperparameters: { poison: 'nan' } })]);
    expect(project.state).toBe('COMPLETED');
    expect(project.rounds.map((r) => [r.learners, r.refused])).toEqual(Array.from({ length: ROUNDS }, () => [3, 1]));
    expect(project.refusals).toEqual([
      expect.objectContaining({ learnerId: 'learner-3', total: ROUNDS, byReason: { 'non-finite': ROUNDS }, lastReason: 'non-finite', lastRound: ROUNDS }),
    ]);
    expect(accuracy(project)).toBeGreaterThanOrEqual(accuracy(honest) - 0.05);
  });

  it('FedProx and SCAFFOLD train with their learner side; central DP reports ε per round', async () => {
    const [fedprox, scaffold, dp] = await runAll([
      training({ learners: 3, strategy: 'fedprox', strategyParams: { proximalMu: 0.01 } }),
      training({ learners: 3, strategy: 'scaffold', hyperparameters: { learningRate: 0.1, batchSize: 16 } }),
      training({ learners: 3, privacy: { centralDp: { noiseMultiplier: 0.01, clipping: 'fixed', clipNorm: 10, delta: 1e-5 } } }),
    ]);
    for (const p of [fedprox, scaffold, dp]) expect({ state: p.state, failure: p.failure }).toEqual({ state: 'COMPLETED', failure: undefined });
    expect(accuracy(fedprox)).toBeGreaterThanOrEqual(0.85);
    expect(accuracy(scaffold)).toBeGreaterThanOrEqual(0.8);
    const spent = dp.rounds.map((r) => r.privacy!);
    expect(spent).toHaveLength(ROUNDS);
    expect(spent.every((p) => p.clipNorm === 10 && p.delta === 1e-5 && typeof p.epsilon === 'number')).toBe(true);
    expect(spent[2].epsilon!).toBeGreaterThan(spent[0].epsilon!);
    expect(dp.privacy).toEqual({ epsilon: spent[2].epsilon, delta: 1e-5, rounds: ROUNDS });
  });

  it('refuses bad strategy parameters at submission with a 400 naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ strategy: 'fedtrimmedavg', strategyParams: { beta: 0.7 } }, /training\.strategyParams\.beta/],
      [{ strategy: 'bulyan', strategyParams: { numMalicious: 1 } }, /training\.strategyParams\.numMalicious: Bulyan needs at least/],
      [{ strategy: 'fedprox' }, /training\.strategyParams\.proximalMu/],
      [{ privacy: { centralDp: { noiseMultiplier: -1, clipNorm: 1 } } }, /training\.privacy\.centralDp\.noiseMultiplier/],
      [{ fractionFit: 0 }, /training\.fractionFit/],
    ];
    for (const [overrides, problem] of cases) {
      const { status, json } = await api.request('POST', '/api/projects', { repo: { url: repo.dir }, training: training(overrides) });
      expect(status).toBe(400);
      expect((json as { message: string[] }).message.join('\n')).toMatch(problem);
    }
  });
});

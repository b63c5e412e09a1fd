/**
 * Oracle tier: the engine's strategies against Flower's own code (flwr, pinned in requirements.txt), round by
 * round. Both sides get the same inputs: the global model a round starts from, seven clients' results (one
 * of them poisoned: far away and sign-flipped), their sample counts and losses. Flower keeps its strategy
 * state (momentum, moments, the model FedOpt/FedAvgM track) across rounds in its own objects; FLOps keeps
 * its state in an AggregationEngine that is exported and restored into a fresh engine between rounds (as
 * after a checkpoint).
 *
 * Flower normally computes in float32 (its inputs' dtype). Its float32 rounding is itself up to ~3e-6 of the
 * weights in FedAdagrad's first round (Δ/(|Δ| + τ) is ill-conditioned where |Δ| ≈ τ), so by default Flower
 * gets the very same values as float64 arrays and computes in float64: the reference for its formulas.
 * The cases marked float32 run Flower's usual float32 path as well.
 *
 * Every round's model must agree to 1e-6 of the tensor's largest magnitude, and the
 * step the round takes (new model − global) to 1e-3 of the step's largest magnitude: steps can be small next
 * to the weights (q-FedAvg's are ~1e-3 of them) and Flower computes them in float32.
 */
import type { CentralDpConfig } from '@flops/contracts';
import { validatePrivacy, validateStrategy } from '@flops/contracts';
import type { NamedTensor, TensorSpec } from '@flops/tensor-codec';
import { AggregationEngine, LearnerUpdate, ModelShape, SeededRandom } from '../src';
import { useFlowerBridge } from './flower-bridge';

/** Generous: a loaded machine slows the Python side, and a slow answer is not a wrong one. */
const ORACLE_TEST_TIMEOUT = 120_000;

const LAYOUT: TensorSpec[] = [
  { name: 'dense1/kernel', shape: [16, 8] },
  { name: 'dense1/bias', shape: [8] },
  { name: 'dense2/kernel', shape: [8, 3] },
  { name: 'dense2/bias', shape: [3] },
];
const SHAPE = new ModelShape(LAYOUT);
const CLIENTS = 7;
const ROUNDS = 4;
const TOLERANCE = 1e-6;
const STEP_TOLERANCE = 1e-3;

interface OracleCase {
  title: string;
  api: 'legacy' | 'message';
  flower: { cls: string; kwargs?: Record<string, unknown>; wrap?: { cls: string; kwargs: Record<string, unknown> }; initial?: boolean };
  strategy: string;
  params?: Record<string, unknown>;
  centralDp?: Partial<CentralDpConfig>;
  /** All clients report the same number of samples (the DP wrappers' FedAvg and FLOps's DP weight uniformly). */
  equalSamples?: boolean;
  /** Every client reports the same loss, which is also the central evaluation loss (legacy QFedAvg uses that). */
  sharedLoss?: boolean;
  /** One client per round sends a poisoned model (for the robust rules, and so that DP clips). */
  poison?: boolean;
  /** Flower computes in float32, its usual path (default: float64, see above). */
  float32?: boolean;
}

const CASES: OracleCase[] = [
  // flwr.server.strategy (the Strategy API)
  { title: 'FedAvg', api: 'legacy', flower: { cls: 'FedAvg' }, strategy: 'fedavg' },
  { title: 'FedAvg, float32', api: 'legacy', flower: { cls: 'FedAvg' }, strategy: 'fedavg', float32: true },
  { title: 'FedAvg(inplace=False)', api: 'legacy', flower: { cls: 'FedAvg', kwargs: { inplace: false } }, strategy: 'fedavg' },
  { title: 'FedProx', api: 'legacy', flower: { cls: 'FedProx', kwargs: { proximal_mu: 0.1 } }, strategy: 'fedprox', params: { proximalMu: 0.1 } },
  { title: 'FedAvgM (momentum)', api: 'legacy', flower: { cls: 'FedAvgM', kwargs: { server_learning_rate: 0.8, server_momentum: 0.9 }, initial: true }, strategy: 'fedavgm', params: { serverLearningRate: 0.8, serverMomentum: 0.9 } },
  { title: 'FedAvgM (lr only)', api: 'legacy', flower: { cls: 'FedAvgM', kwargs: { server_learning_rate: 0.5 }, initial: true }, strategy: 'fedavgm', params: { serverLearningRate: 0.5 } },
  { title: 'FedAdagrad', api: 'legacy', flower: { cls: 'FedAdagrad', kwargs: { eta: 0.1, tau: 1e-3 }, initial: true }, strategy: 'fedadagrad', params: { eta: 0.1, tau: 1e-3 } },
  { title: 'FedAdam, float32', api: 'legacy', flower: { cls: 'FedAdam', kwargs: { eta: 0.1, beta_1: 0.9, beta_2: 0.99, tau: 1e-3 }, initial: true }, strategy: 'fedadam', params: { eta: 0.1, tau: 1e-3 }, float32: true },
  { title: 'FedAdam', api: 'legacy', flower: { cls: 'FedAdam', kwargs: { eta: 0.1, beta_1: 0.9, beta_2: 0.99, tau: 1e-3 }, initial: true }, strategy: 'fedadam', params: { eta: 0.1, tau: 1e-3 } },
  { title: 'FedYogi', api: 'legacy', flower: { cls: 'FedYogi', kwargs: { eta: 0.01, tau: 1e-3 }, initial: true }, strategy: 'fedyogi', params: { tau: 1e-3 } },
  { title: 'QFedAvg', api: 'legacy', flower: { cls: 'QFedAvg', kwargs: { q_param: 0.2, qffl_learning_rate: 0.1 } }, strategy: 'qfedavg', params: { q: 0.2, clientLearningRate: 0.1 }, sharedLoss: true },
  { title: 'FedMedian', api: 'legacy', flower: { cls: 'FedMedian' }, strategy: 'fedmedian', poison: true },
  { title: 'FedTrimmedAvg', api: 'legacy', flower: { cls: 'FedTrimmedAvg', kwargs: { beta: 0.2 } }, strategy: 'fedtrimmedavg', params: { beta: 0.2 }, poison: true },
  { title: 'Krum', api: 'legacy', flower: { cls: 'Krum', kwargs: { num_malicious_clients: 1, num_clients_to_keep: 0 } }, strategy: 'krum', params: { numMalicious: 1 }, poison: true },
  { title: 'Krum(num_clients_to_keep=3) = MultiKrum', api: 'legacy', flower: { cls: 'Krum', kwargs: { num_malicious_clients: 1, num_clients_to_keep: 3 } }, strategy: 'multikrum', params: { numMalicious: 1, numToSelect: 3 }, poison: true },
  { title: 'Bulyan', api: 'legacy', flower: { cls: 'Bulyan', kwargs: { num_malicious_clients: 1, to_keep: 0 } }, strategy: 'bulyan', params: { numMalicious: 1 }, poison: true },
  {
    title: 'DifferentialPrivacyServerSideFixedClipping(FedAvg), noise 0',
    api: 'legacy',
    flower: { cls: 'FedAvg', wrap: { cls: 'DifferentialPrivacyServerSideFixedClipping', kwargs: { noise_multiplier: 0, clipping_norm: 1.3, num_sampled_clients: CLIENTS } } },
    strategy: 'fedavg',
    centralDp: { noiseMultiplier: 0, clipping: 'fixed', clipNorm: 1.3 },
    equalSamples: true,
    poison: true,
  },
  // flwr.serverapp.strategy (the Message API)
  { title: 'FedAvg', api: 'message', flower: { cls: 'FedAvg' }, strategy: 'fedavg' },
  { title: 'FedAvg, float32', api: 'message', flower: { cls: 'FedAvg' }, strategy: 'fedavg', float32: true },
  { title: 'MultiKrum, float32', api: 'message', flower: { cls: 'MultiKrum', kwargs: { num_malicious_nodes: 1, num_nodes_to_select: 3 } }, strategy: 'multikrum', params: { numMalicious: 1, numToSelect: 3 }, poison: true, float32: true },
  { title: 'FedProx', api: 'message', flower: { cls: 'FedProx', kwargs: { proximal_mu: 0.1 } }, strategy: 'fedprox', params: { proximalMu: 0.1 } },
  { title: 'FedAvgM', api: 'message', flower: { cls: 'FedAvgM', kwargs: { server_learning_rate: 0.8, server_momentum: 0.9 } }, strategy: 'fedavgm', params: { serverLearningRate: 0.8, serverMomentum: 0.9 } },
  { title: 'FedAdagrad', api: 'message', flower: { cls: 'FedAdagrad' }, strategy: 'fedadagrad' },
  { title: 'FedAdam', api: 'message', flower: { cls: 'FedAdam' }, strategy: 'fedadam' },
  { title: 'FedYogi', api: 'message', flower: { cls: 'FedYogi' }, strategy: 'fedyogi' },
  { title: 'QFedAvg (per-client losses)', api: 'message', flower: { cls: 'QFedAvg', kwargs: { client_learning_rate: 0.1, q: 0.1, train_loss_key: 'loss' } }, strategy: 'qfedavg', params: { clientLearningRate: 0.1 } },
  { title: 'FedMedian', api: 'message', flower: { cls: 'FedMedian' }, strategy: 'fedmedian', poison: true },
  { title: 'FedTrimmedAvg', api: 'message', flower: { cls: 'FedTrimmedAvg', kwargs: { beta: 0.2 } }, strategy: 'fedtrimmedavg', params: { beta: 0.2 }, poison: true },
  { title: 'Krum', api: 'message', flower: { cls: 'Krum', kwargs: { num_malicious_nodes: 1 } }, strategy: 'krum', params: { numMalicious: 1 }, poison: true },
  { title: 'MultiKrum', api: 'message', flower: { cls: 'MultiKrum', kwargs: { num_malicious_nodes: 1, num_nodes_to_select: 3 } }, strategy: 'multikrum', params: { numMalicious: 1, numToSelect: 3 }, poison: true },
  { title: 'Bulyan', api: 'message', flower: { cls: 'Bulyan', kwargs: { num_malicious_nodes: 1 } }, strategy: 'bulyan', params: { numMalicious: 1, selection: 'multikrum' }, poison: true },
  {
    title: 'DifferentialPrivacyServerSideFixedClipping(FedAvg), noise 0',
    api: 'message',
    flower: { cls: 'FedAvg', wrap: { cls: 'DifferentialPrivacyServerSideFixedClipping', kwargs: { noise_multiplier: 0, clipping_norm: 1.3, num_sampled_clients: CLIENTS } } },
    strategy: 'fedavg',
    centralDp: { noiseMultiplier: 0, clipping: 'fixed', clipNorm: 1.3 },
    equalSamples: true,
    poison: true,
  },
];

/** One round's inputs, identical for both sides. */
interface RoundInputs {
  clients: { numSamples: number; loss: number; values: Float32Array }[];
  evalLoss: number;
}

function roundInputs(random: SeededRandom, global: Float32Array, round: number, spec: OracleCase): RoundInputs {
  const uniform = new Float64Array(3 * CLIENTS);
  random.fillUniform(uniform);
  const poisoned = spec.poison ? round % CLIENTS : -1;
  const evalLoss = 0.3 + uniform[0];
  const clients = Array.from({ length: CLIENTS }, (_, k) => {
    const noise = new Float64Array(SHAPE.size);
    random.addGaussian(noise, 0.1);
    // The poisoned client sends a sign-flipped model, ten times farther away: robust rules must leave it out.
    const values = Float32Array.from(global, (g, i) => (k === poisoned ? -10 * (g + noise[i]) : g + noise[i]));
    return {
      numSamples: spec.equalSamples ? 100 : 20 + Math.floor(uniform[k] * 300),
      loss: spec.sharedLoss ? evalLoss : 0.05 + 2 * uniform[CLIENTS + k],
      values,
    };
  });
  return { clients, evalLoss };
}

function tensorsOf(prefix: string, flat: Float32Array): NamedTensor[] {
  return SHAPE.tensors(flat).map((t) => ({ ...t, name: `${prefix}/${t.name}` }));
}

function flopsEngine(spec: OracleCase): AggregationEngine {
  const { value, problems } = validateStrategy(spec.strategy, spec.params ?? {}, { minLearnersPerRound: CLIENTS, learners: CLIENTS });
  if (!value) throw new Error(problems.join('; '));
  let centralDp: CentralDpConfig | undefined;
  if (spec.centralDp) {
    const privacy = validatePrivacy({ centralDp: { ...spec.centralDp, expectedLearnersPerRound: CLIENTS } }, { strategy: value.name, learners: CLIENTS });
    if (!privacy.value) throw new Error(privacy.problems.join('; '));
    centralDp = privacy.value.centralDp;
  }
  return new AggregationEngine({ layout: LAYOUT, strategy: value, learners: CLIENTS, centralDp, random: new SeededRandom('dp') });
}

/** max |ours − flower| / max |flower − origin|, per tensor, the worst of them (origin 0: the model itself). */
function relativeError(ours: Float32Array, flower: NamedTensor[], origin?: Float32Array): number {
  let worst = 0;
  const base = origin ? SHAPE.tensors(origin) : undefined;
  SHAPE.tensors(ours).forEach(({ values }, t) => {
    const theirs = flower[t].values;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < values.length; i++) {
      scale = Math.max(scale, Math.abs(theirs[i] - (base ? base[t].values[i] : 0)));
      diff = Math.max(diff, Math.abs(values[i] - theirs[i]));
    }
    worst = Math.max(worst, scale === 0 ? diff : diff / scale);
  });
  return worst;
}

describe('strategies agree with Flower, round by round', () => {
  const { bridge, versions } = useFlowerBridge();
  const summary: { api: string; strategy: string; flops: string; worst: number; worstStep: number }[] = [];

  afterAll(() => {
    if (summary.length) {
      console.log(
        [`Flower ${String(versions().flwr)} (numpy ${String(versions().numpy)}) vs FLOps, ${ROUNDS} rounds × ${CLIENTS} clients, worst relative error of the model / of the step:`]
          .concat(summary.map((s) => `  ${s.api.padEnd(7)} ${s.strategy.padEnd(62)} ${s.flops.padEnd(14)} ${s.worst.toExponential(2)} / ${s.worstStep.toExponential(2)}`))
          .join('\n'),
      );
    }
  });

  it('runs the pinned Flower', () => {
    expect(versions().flwr).toBe('1.42.0');
  });

  it.each(CASES.map((c) => [`${c.api === 'legacy' ? 'flwr.server.strategy' : 'flwr.serverapp.strategy'}.${c.title}`, c] as const))('%s', async (_title, spec) => {
    const session = `${spec.api}:${spec.title}`;
    const random = new SeededRandom(session);
    const start = new Float64Array(SHAPE.size);
    random.addGaussian(start, 1);
    let global: Float32Array = Float32Array.from(start);
    await bridge().request(
      { op: 'create', session, api: spec.api, cls: spec.flower.cls, kwargs: spec.flower.kwargs ?? {}, wrap: spec.flower.wrap, numClients: CLIENTS, float64: !spec.float32 },
      spec.flower.initial ? tensorsOf('initial', global) : [],
    );
    let state: Buffer | undefined;
    let worst = 0;
    let worstStep = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const inputs = roundInputs(random, global, round, spec);

      // FLOps: a fresh engine restored from the previous round's exported state.
      const engine = flopsEngine(spec);
      if (state) engine.restoreState(state);
      const flopsRound = engine.beginRound(round, global);
      inputs.clients.forEach((client, k) => {
        const update: LearnerUpdate = { learnerId: `learner-${k}`, numSamples: client.numSamples, tensors: SHAPE.tensors(client.values), metrics: { loss: client.loss } };
        flopsRound.offer(update);
      });
      const ours = flopsRound.finish();
      state = engine.exportState();

      // Flower: the same round through its own strategy object.
      const answer = await bridge().request(
        {
          op: 'round',
          session,
          round,
          float64: !spec.float32,
          evalLoss: inputs.evalLoss,
          clients: inputs.clients.map((c) => ({ numExamples: c.numSamples, metrics: { loss: c.loss } })),
        },
        [...tensorsOf('global', global), ...inputs.clients.flatMap((c, k) => tensorsOf(`client/${k}`, c.values))],
      );
      const error = relativeError(ours.model, answer.tensors);
      const stepError = relativeError(ours.model, answer.tensors, global);
      worst = Math.max(worst, error);
      worstStep = Math.max(worstStep, stepError);
      expect({ round, error: error <= TOLERANCE ? 'within 1e-6' : error }).toEqual({ round, error: 'within 1e-6' });
      expect({ round, stepError: stepError <= STEP_TOLERANCE ? 'within 1e-3' : stepError }).toEqual({ round, stepError: 'within 1e-3' });
      global = ours.model;
    }
    summary.push({ api: spec.api, strategy: spec.title, flops: spec.strategy + (spec.centralDp ? '+dp' : ''), worst, worstStep });
  }, ORACLE_TEST_TIMEOUT);
});

/**
 * Where FLOps deliberately differs from Flower: server-side adaptive clipping. Andrew et al. update the clip
 * norm from the fraction of updates that were NOT clipped, C ← C·exp(−η(b̄ − γ)), so C tracks the γ-quantile
 * of the update norms. Flower 1.42 feeds the fraction that WAS clipped into the same formula, so C moves away
 * from that quantile. With noise off both clip the first round's updates alike (same model); then every
 * update is clipped, FLOps raises C towards the update norms, and Flower lowers it, round after round.
 */
describe('adaptive clipping: where FLOps follows Andrew et al. and Flower does not', () => {
  const { bridge } = useFlowerBridge();

  it.each(['legacy', 'message'] as const)('%s API: same clipping in round 1, then C moves the other way', async (api) => {
    const session = `${api}:adaptive`;
    const initial = 0.5;
    await bridge().request({
      op: 'create',
      session,
      api,
      cls: 'FedAvg',
      numClients: CLIENTS,
      float64: true,
      wrap: {
        cls: 'DifferentialPrivacyServerSideAdaptiveClipping',
        kwargs: { noise_multiplier: 0, num_sampled_clients: CLIENTS, initial_clipping_norm: initial, target_clipped_quantile: 0.5, clip_norm_lr: 0.2 },
      },
    });
    const spec: OracleCase = { title: 'adaptive', api, flower: { cls: 'FedAvg' }, strategy: 'fedavg', equalSamples: true };
    const engine = flopsEngine({ ...spec, centralDp: { noiseMultiplier: 0, clipping: 'adaptive', clipNorm: initial, targetUnclippedQuantile: 0.5, clipLearningRate: 0.2 } });
    const random = new SeededRandom(session);
    const start = new Float64Array(SHAPE.size);
    random.addGaussian(start, 1);
    let global: Float32Array = Float32Array.from(start);
    const ours: number[] = [initial];
    const theirs: number[] = [initial];
    for (let round = 1; round <= 6; round++) {
      const inputs = roundInputs(random, global, round, spec);
      const flopsRound = engine.beginRound(round, global);
      inputs.clients.forEach((c, k) => flopsRound.offer({ learnerId: `learner-${k}`, numSamples: c.numSamples, tensors: SHAPE.tensors(c.values) }));
      const result = flopsRound.finish();
      const answer = await bridge().request(
        { op: 'round', session, round, float64: true, clients: inputs.clients.map((c) => ({ numExamples: c.numSamples, metrics: {} })) },
        [...tensorsOf('global', global), ...inputs.clients.flatMap((c, k) => tensorsOf(`client/${k}`, c.values))],
      );
      if (round === 1) expect(relativeError(result.model, answer.tensors)).toBeLessThanOrEqual(TOLERANCE);
      ours.push((engine.strategy as unknown as { currentClipNorm: number }).currentClipNorm);
      theirs.push(Number((answer.meta.extra as { clippingNorm: number }).clippingNorm));
      global = result.model;
    }
    // Every update's change has norm ≈ 0.1·√163 ≈ 1.3 > C: all clipped, so b̄ = 0 and C grows by e^(0.2·0.5) per round.
    ours.slice(1).forEach((c, r) => expect(c).toBeCloseTo(initial * Math.exp(0.1 * (r + 1)), 12));
    // Flower counts the clipped ones (1 of 1): its C shrinks by e^(−0.2·0.5) per round, away from the norms.
    theirs.slice(1).forEach((c, r) => expect(c).toBeCloseTo(initial * Math.exp(-0.1 * (r + 1)), 12));
  }, ORACLE_TEST_TIMEOUT);
});

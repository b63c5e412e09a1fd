import { CentralDpConfig, SecureAggregationConfig, validatePrivacy, validateStrategy } from '@flops/contracts';
import { AggregationEngine } from '../../engine';
import { SeededRandom } from '../random';
import { SecAggDecoded, decodeSecAggSum, secAggInput, secAggSettings, SecAggMode } from './codec';
import { MaskedInput, SecAggAggregator, SecAggError, SecAggLearner, SecAggSettings, neighbourGraph } from './protocol';

const LAYOUT = [
  { name: 'w', shape: [40, 10] },
  { name: 'b', shape: [10] },
];
const SIZE = 410;

function config(overrides: Partial<SecureAggregationConfig> = {}): SecureAggregationConfig {
  return Object.assign(new SecureAggregationConfig(), overrides);
}

interface Drops {
  /** Drop after advertising keys (never share). */
  beforeSharing?: string[];
  /** Drop after sharing keys, before sending the masked input: their pairwise masks must be removed. */
  beforeInput?: string[];
  /** Send the masked input, then never answer the unmasking request. */
  beforeUnmask?: string[];
}

/** Runs one whole round over an in-memory "transport", the messages passing as the state machines produce them. */
async function secureRound(
  ids: string[],
  inputs: Map<string, Float64Array>,
  settings: SecAggSettings,
  cfg: SecureAggregationConfig,
  drops: Drops = {},
  observe?: (input: MaskedInput) => void,
): Promise<{ sum: Awaited<ReturnType<SecAggAggregator['finish']>> }> {
  const aggregator = new SecAggAggregator(settings);
  const learners = new Map(ids.map((id) => [id, new SecAggLearner(id, settings, new SeededRandom(`q-${id}-${settings.roundId}`))]));
  for (const learner of learners.values()) aggregator.acceptKeys(learner.advertiseKeys());
  const directories = aggregator.closeKeys();
  for (const [id, directory] of directories) {
    if (drops.beforeSharing?.includes(id)) continue;
    aggregator.acceptShares(await learners.get(id)!.shareKeys(directory));
  }
  const mailboxes = aggregator.closeShares();
  for (const [id, mailbox] of mailboxes) {
    if (drops.beforeInput?.includes(id)) continue;
    const masked = learners.get(id)!.maskedInput(mailbox, inputs.get(id)!, cfg.clippingRange, cfg.quantizationRange);
    observe?.(masked);
    aggregator.acceptMaskedInput(masked);
  }
  const requests = aggregator.closeMaskedInputs();
  for (const [id, request] of requests) {
    if (drops.beforeUnmask?.includes(id)) continue;
    aggregator.acceptUnmask(learners.get(id)!.unmask(request));
  }
  return { sum: await aggregator.finish() };
}

function randomModel(random: SeededRandom, scale: number, around?: Float32Array): Float32Array {
  const noise = new Float64Array(SIZE);
  random.addGaussian(noise, scale);
  return Float32Array.from(noise, (v, i) => v + (around ? around[i] : 0));
}

function fedavgEngine(): AggregationEngine {
  return new AggregationEngine({ layout: LAYOUT, strategy: validateStrategy('fedavg', {}, { minLearnersPerRound: 2, learners: 8 }).value!, learners: 8 });
}

// Key agreement, Shamir sharing and AES over many rounds: seconds on a loaded machine.
jest.setTimeout(60_000);

describe('secure aggregation (SecAgg+)', () => {
  const ids = ['learner-a', 'learner-b', 'learner-c', 'learner-d', 'learner-e', 'learner-f'];

  it('the unmasked sum is plain FedAvg, within the quantisation', async () => {
    const cfg = config({ maxDropouts: 1 });
    const random = new SeededRandom('fedavg');
    const global = randomModel(random, 1);
    const models = new Map(ids.map((id) => [id, randomModel(random, 0.05, global)]));
    const samples = new Map(ids.map((id, k) => [id, 50 + 97 * k]));
    const mode: SecAggMode = { kind: 'weighted' };
    const inputs = new Map(ids.map((id) => [id, secAggInput(models.get(id)!.map((v, i) => v - global[i]), samples.get(id)!, cfg, mode)]));
    const settings = secAggSettings(cfg, { roundId: 'r1', graphSeed: 'g1', participants: ids, modelSize: SIZE });
    const { sum } = await secureRound(ids, inputs, settings, cfg);
    const secure = fedavgEngine().finishSecureRound(1, global, decodeSecAggSum(sum, cfg, mode));

    const plain = fedavgEngine().beginRound(1, global);
    for (const id of ids) plain.offer({ learnerId: id, numSamples: samples.get(id)!, tensors: [{ name: 'w', shape: [40, 10], values: models.get(id)!.subarray(0, 400) }, { name: 'b', shape: [10], values: models.get(id)!.subarray(400) }] });
    const expected = plain.finish().model;
    // Each of the n quantised values is off by less than one step 2c/Q, in the deltas and in the weights.
    const step = (2 * cfg.clippingRange) / cfg.quantizationRange;
    const weightSum = ids.reduce((s, id) => s + samples.get(id)!, 0) / cfg.maxWeight;
    const bound = ((ids.length * step) / weightSum) * (1 + 1) + 1e-6;
    const worst = Math.max(...expected.map((v, i) => Math.abs(v - secure.model[i])));
    expect(worst).toBeLessThan(bound);
    expect(worst).toBeGreaterThan(0); // it is quantised, not passed through
  });

  it('survives up to maxDropouts learners dropping at any step, and says why when more drop', async () => {
    // k = 4 neighbours, 2 dropouts would leave t = 2, not a majority: refused at submission.
    expect(validatePrivacy({ secureAggregation: { maxDropouts: 2, neighbours: 4 } }, { strategy: 'fedavg', learners: 6 }).problems).toEqual([
      'privacy.secureAggregation.maxDropouts: with 4 neighbours per learner at most 1 may drop out (a majority of each learner\'s neighbours must answer)',
    ]);
    const ok = config({ maxDropouts: 1, neighbours: 4 });
    const random = new SeededRandom('dropouts');
    const inputs = new Map(
      ids.map((id) => {
        const values = new Float64Array(SIZE + 1);
        random.addGaussian(values, 1);
        return [id, values];
      }),
    );
    const settings = secAggSettings(ok, { roundId: 'r2', graphSeed: 'g2', participants: ids, modelSize: SIZE });
    expect([settings.neighbours, settings.threshold]).toEqual([4, 3]);
    const exact = (survivors: string[]): Float64Array => {
      const out = new Float64Array(SIZE + 1);
      for (const id of survivors) inputs.get(id)!.forEach((v, i) => (out[i] += Math.max(-ok.clippingRange, Math.min(ok.clippingRange, v))));
      return out;
    };
    const step = (2 * ok.clippingRange) / ok.quantizationRange;
    for (const drops of [{ beforeSharing: ['learner-c'] }, { beforeInput: ['learner-d'] }, { beforeUnmask: ['learner-b'] }] as Drops[]) {
      const { sum } = await secureRound(ids, inputs, settings, ok, drops);
      const gone = [...(drops.beforeSharing ?? []), ...(drops.beforeInput ?? [])];
      const survivors = ids.filter((id) => !gone.includes(id));
      expect(sum.survivors.sort()).toEqual(survivors);
      const got = decodeSecAggSum(sum, ok, { kind: 'weighted' });
      const want = exact(survivors);
      const worst = Math.max(...[...got.deltaSum].map((v, i) => Math.abs(v - want[i])));
      expect(worst).toBeLessThan(survivors.length * step);
    }
    // Two of learner-x's four neighbours drop after sharing: only 2 < t = 3 shares of its masks can come back.
    const graph = neighbourGraph(ids, 'g2', 4);
    const [victim] = ids;
    const twoNeighbours = [...graph.get(victim)!].slice(0, 2);
    await expect(secureRound(ids, inputs, settings, ok, { beforeInput: twoNeighbours })).rejects.toThrow(/shares arrived \(too many learners dropped\)/);
  });

  it('what the aggregator receives from a learner is independent of that learner\'s update', async () => {
    const cfg = config({ maxDropouts: 1 });
    const ids3 = ids.slice(0, 4);
    const length = 4096;
    const settingsFor = (roundId: string): SecAggSettings => ({ ...secAggSettings(cfg, { roundId, graphSeed: roundId, participants: ids3, modelSize: length - 1 }) });
    // Two extreme updates for learner-a: all at the bottom of the range, all at the top.
    const extremes = [-cfg.clippingRange, cfg.clippingRange];
    const seen: Uint32Array[][] = [[], []];
    for (let trial = 0; trial < 8; trial++) {
      for (const [which, value] of extremes.entries()) {
        const inputs = new Map(ids3.map((id) => [id, new Float64Array(length).fill(id === 'learner-a' ? value : 0)]));
        await secureRound(ids3, inputs, settingsFor(`t${trial}-${which}`), cfg, {}, (m) => {
          if (m.learnerId === 'learner-a') seen[which].push(m.masked.slice());
        });
      }
    }
    // Top byte of every received word, over 8 × 4096 words per update: uniform for both updates, and the two
    // histograms indistinguishable (χ² tests; at p = 1e-9 the 255-degree critical value is about 420).
    const histogram = (vectors: Uint32Array[]): number[] => {
      const bins = new Array<number>(256).fill(0);
      for (const v of vectors) for (const w of v) bins[w >>> 24] += 1;
      return bins;
    };
    const [low, high] = seen.map(histogram);
    const total = 8 * length;
    const uniformity = (bins: number[]): number => bins.reduce((s, o) => s + (o - total / 256) ** 2 / (total / 256), 0);
    const homogeneity = low.reduce((s, a, k) => {
      const b = high[k];
      const e = (a + b) / 2;
      return s + ((a - e) ** 2 + (b - e) ** 2) / e;
    }, 0);
    expect(uniformity(low)).toBeLessThan(420);
    expect(uniformity(high)).toBeLessThan(420);
    expect(homogeneity).toBeLessThan(420);
    // And per word: the received value does not track the input (correlation over paired words ~ N(0, 1/√n)).
    const xs = seen[0].flatMap((v) => [...v]).concat(seen[1].flatMap((v) => [...v]));
    const ys = new Array<number>(total).fill(0).concat(new Array<number>(total).fill(1));
    const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    const mx = mean(xs);
    const my = mean(ys);
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    xs.forEach((x, i) => {
      sxy += (x - mx) * (ys[i] - my);
      sxx += (x - mx) ** 2;
      syy += (ys[i] - my) ** 2;
    });
    expect(Math.abs(sxy / Math.sqrt(sxx * syy))).toBeLessThan(6 / Math.sqrt(xs.length));
  });

  it('combines with central DP: learners clip, the aggregator noises the unmasked sum', async () => {
    const cfg = config({ maxDropouts: 1, clippingRange: 2 });
    const random = new SeededRandom('dp');
    const global = randomModel(random, 1);
    const models = new Map(ids.map((id, k) => [id, randomModel(random, k === 0 ? 1 : 0.02, global)]));
    const dp = (noiseMultiplier: number): CentralDpConfig =>
      validatePrivacy({ centralDp: { noiseMultiplier, clipping: 'fixed', clipNorm: 0.5, expectedLearnersPerRound: ids.length } }, { strategy: 'fedavg', learners: ids.length }).value!.centralDp!;
    const engine = (noiseMultiplier: number, seed: string): AggregationEngine =>
      new AggregationEngine({ layout: LAYOUT, strategy: validateStrategy('fedavg', {}, { minLearnersPerRound: 2, learners: 6 }).value!, learners: 6, centralDp: dp(noiseMultiplier), random: new SeededRandom(seed) });
    const mode: SecAggMode = { kind: 'dp', clipNorm: 0.5 };
    const inputs = new Map(ids.map((id) => [id, secAggInput(models.get(id)!.map((v, i) => v - global[i]), 1, cfg, mode)]));
    const { sum } = await secureRound(ids, inputs, secAggSettings(cfg, { roundId: 'dp1', graphSeed: 'dp1', participants: ids, modelSize: SIZE }), cfg);
    const decoded: SecAggDecoded = decodeSecAggSum(sum, cfg, mode);
    expect(decoded.unclipped).toBe(5); // learner-a's update is far beyond C = 0.5; the others within it

    // Without noise it is exactly the server-side clipped mean, within the quantisation.
    const plain = engine(0, 'x').beginRound(1, global);
    for (const id of ids) plain.offer({ learnerId: id, numSamples: 1, tensors: [{ name: 'w', shape: [40, 10], values: models.get(id)!.subarray(0, 400) }, { name: 'b', shape: [10], values: models.get(id)!.subarray(400) }] });
    const clipped = plain.finish().model;
    const secure = engine(0, 'x').finishSecureRound(1, global, decoded).model;
    const step = (2 * cfg.clippingRange) / cfg.quantizationRange;
    expect(Math.max(...clipped.map((v, i) => Math.abs(v - secure[i])))).toBeLessThan((ids.length * step) / ids.length + 1e-6);

    // With noise z = 1 the released mean carries N(0, (zC/m)²) per value, and the round is accounted for.
    const noisy = engine(1, 'noise').finishSecureRound(1, global, decodeSecAggSum(sum, cfg, mode));
    const residual = [...noisy.model].map((v, i) => v - secure[i]);
    const std = Math.sqrt(residual.reduce((s, r) => s + r * r, 0) / residual.length);
    expect(std).toBeGreaterThan((0.5 / 6) * 0.85);
    expect(std).toBeLessThan((0.5 / 6) * 1.15);
    expect(noisy.report.epsilonTotal).toBeGreaterThan(0);
    expect(Number.isFinite(noisy.report.epsilonTotal)).toBe(true);
  });

  it('a learner refuses to reveal both secrets of a neighbour, or to unmask with too few survivors', async () => {
    const cfg = config({ maxDropouts: 1 });
    const settings = secAggSettings(cfg, { roundId: 'r9', graphSeed: 'g9', participants: ids.slice(0, 4), modelSize: 3 });
    const make = (id: string): SecAggLearner => new SecAggLearner(id, settings, new SeededRandom(id));
    const learner = make('learner-a');
    expect(() => learner.maskedInput({ shares: [] }, new Float64Array(4), 8, 2 ** 22)).toThrow(SecAggError);
    const fresh = make('learner-a');
    fresh.advertiseKeys();
    await fresh.shareKeys({ neighbours: [] }).catch((e: Error) => expect(e.message).toMatch(/fewer than the threshold/));
    const aggregator = new SecAggAggregator(settings);
    expect(() => aggregator.closeKeys()).toThrow(/only 0 learners advertised keys; the round needs at least 3/);
    const full = new Map(ids.slice(0, 4).map((id) => [id, make(id)]));
    for (const l of full.values()) aggregator.acceptKeys(l.advertiseKeys());
    const dirs = aggregator.closeKeys();
    for (const [id, dir] of dirs) aggregator.acceptShares(await full.get(id)!.shareKeys(dir));
    const boxes = aggregator.closeShares();
    const a = full.get('learner-a')!;
    a.maskedInput(boxes.get('learner-a')!, new Float64Array(4), 8, 2 ** 22);
    expect(() => a.unmask({ survivors: ['learner-a', 'learner-b'], dropped: ['learner-b'] })).toThrow(/both survive and drop/);
    const b = full.get('learner-b')!;
    b.maskedInput(boxes.get('learner-b')!, new Float64Array(4), 8, 2 ** 22);
    expect(() => b.unmask({ survivors: ['learner-b'], dropped: ['learner-a', 'learner-c', 'learner-d'] })).toThrow(/fewer than the threshold/);
  });
});

/**
 * Oracle tier: the engine's RDP accountant against Google's dp-accounting (pinned in requirements.txt), the
 * accountant TensorFlow Privacy and Flower's DP documentation point to. The same mechanism, composed the
 * same number of times, must give the same ε at the same δ, and the same optimal order.
 */
import { RdpAccountant } from '../src';
import { useFlowerBridge } from './flower-bridge';

/** Generous: a loaded machine slows the Python side, and a slow answer is not a wrong one. */
const ORACLE_TEST_TIMEOUT = 120_000;

interface AccountingCase {
  noiseMultiplier: number;
  samplingRate: number;
  steps: number;
  delta: number;
}

const CASES: AccountingCase[] = [
  // Every learner in every round (FLOps today): no amplification.
  { noiseMultiplier: 1.0, samplingRate: 1, steps: 1, delta: 1e-5 },
  { noiseMultiplier: 1.1, samplingRate: 1, steps: 50, delta: 1e-5 },
  { noiseMultiplier: 5.0, samplingRate: 1, steps: 200, delta: 1e-6 },
  { noiseMultiplier: 0.5, samplingRate: 1, steps: 10, delta: 1e-3 },
  // A sample of the learners each round (Poisson): integer and fractional orders both matter.
  { noiseMultiplier: 1.0, samplingRate: 0.5, steps: 20, delta: 1e-5 },
  { noiseMultiplier: 1.1, samplingRate: 0.1, steps: 100, delta: 1e-5 },
  { noiseMultiplier: 0.8, samplingRate: 0.01, steps: 1000, delta: 1e-5 },
  { noiseMultiplier: 2.0, samplingRate: 0.05, steps: 500, delta: 1e-6 },
  { noiseMultiplier: 0.6, samplingRate: 0.2, steps: 5, delta: 1e-5 },
];

describe('RDP accountant agrees with dp-accounting', () => {
  const { bridge } = useFlowerBridge();

  it.each(CASES)('z=$noiseMultiplier q=$samplingRate × $steps at δ=$delta', async (c) => {
    const accountant = new RdpAccountant();
    accountant.composeGaussian(c.noiseMultiplier, c.samplingRate, c.steps);
    const ours = accountant.epsilon(c.delta);
    const { meta } = await bridge().request({ op: 'dp-epsilon', ...c });
    const theirs = { epsilon: Number(meta.epsilon), order: Number(meta.order) };
    expect(ours.order).toBe(theirs.order);
    expect(Math.abs(ours.epsilon - theirs.epsilon)).toBeLessThanOrEqual(1e-9 * Math.max(1, theirs.epsilon));
  }, ORACLE_TEST_TIMEOUT);

  it('composing round by round gives what composing all rounds at once gives', async () => {
    const accountant = new RdpAccountant();
    for (let round = 0; round < 30; round++) accountant.composeGaussian(1.3, 1);
    const { meta } = await bridge().request({ op: 'dp-epsilon', noiseMultiplier: 1.3, samplingRate: 1, steps: 30, delta: 1e-5 });
    expect(accountant.epsilon(1e-5).epsilon).toBeCloseTo(Number(meta.epsilon), 9);
  }, ORACLE_TEST_TIMEOUT);
});

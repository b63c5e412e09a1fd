/**
 * Which learners a task asks: `fraction` of them, at least `minimum` (all if fewer), chosen at random but
 * reproducibly from the project's seed and the round (as Flower samples `fraction_fit` of its clients).
 */
export function sampleLearners(learners: readonly string[], fraction: number, minimum: number, seed: number, round: number): string[] {
  const sorted = [...learners].sort();
  const count = Math.min(sorted.length, Math.max(minimum, Math.floor(sorted.length * fraction)));
  if (count >= sorted.length) return sorted;
  const next = mulberry32((seed ^ Math.imul(round + 1, 0x9e3779b1)) >>> 0);
  // Partial Fisher–Yates: the first `count` places end up a uniform sample.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(next() * (sorted.length - i));
    [sorted[i], sorted[j]] = [sorted[j], sorted[i]];
  }
  return sorted.slice(0, count).sort();
}

/** A small seeded PRNG (uniform in [0, 1)); sampling needs reproducibility, not secrecy. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

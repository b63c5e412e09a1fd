import type { EngineStrategyName } from '@flops/contracts';
import { StrategyStateError } from '../errors';
import type { StrategyState } from './strategy';

/**
 * The state vectors of an exported state, checked: it must be `strategy`'s, hold only `keys` (a key may be
 * absent: state not created yet) and each vector must have `size` values. Returns copies.
 */
export function restoreVectors(state: StrategyState, strategy: EngineStrategyName, size: number, keys: readonly string[]): Record<string, Float32Array> {
  if (state.strategy !== strategy) throw new StrategyStateError(`state of strategy ${JSON.stringify(state.strategy)} cannot restore ${strategy}`);
  const vectors: Record<string, Float32Array> = {};
  for (const [key, vector] of Object.entries(state.vectors)) {
    if (!keys.includes(key)) throw new StrategyStateError(`${strategy} keeps no state vector ${JSON.stringify(key)}`);
    if (!(vector instanceof Float32Array) || vector.length !== size) {
      throw new StrategyStateError(`state vector ${JSON.stringify(key)} has ${vector?.length} values, the model ${size}`);
    }
    vectors[key] = vector.slice();
  }
  return vectors;
}

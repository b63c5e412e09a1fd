import type { StrategyChoice } from '@flops/contracts';
import { FoldKernel } from '../kernels/fold-kernel';
import { ModelShape } from '../model/model-shape';
import { Bulyan, FedMedian, FedTrimmedAvg, Krum } from './buffered-strategies';
import { FedAvg, FedAvgM, FedOpt, FedProx } from './mean-strategies';
import { QFedAvg } from './qfedavg';
import { Scaffold } from './scaffold';
import { Strategy } from './strategy';

export interface StrategyContext {
  shape: ModelShape;
  kernel: FoldKernel;
  /** Learners in the federation (SCAFFOLD averages its variates over all of them). */
  learners: number;
}

/** The strategy for a validated choice (see validateStrategy in @flops/contracts). */
export function createStrategy(choice: StrategyChoice, { shape, kernel, learners }: StrategyContext): Strategy {
  switch (choice.name) {
    case 'fedavg':
      return new FedAvg(shape, kernel);
    case 'fedprox':
      return new FedProx(shape, kernel, choice.params);
    case 'fedavgm':
      return new FedAvgM(shape, kernel, choice.params);
    case 'fedadagrad':
    case 'fedadam':
    case 'fedyogi':
      return new FedOpt(choice.name, shape, kernel, choice.params);
    case 'qfedavg':
      return new QFedAvg(shape, kernel, choice.params);
    case 'scaffold':
      return new Scaffold(shape, kernel, choice.params, learners);
    case 'fedmedian':
      return new FedMedian(shape, kernel);
    case 'fedtrimmedavg':
      return new FedTrimmedAvg(shape, kernel, choice.params);
    case 'krum':
    case 'multikrum':
      return new Krum(choice.name, shape, kernel, choice.params);
    case 'bulyan':
      return new Bulyan(shape, kernel, choice.params);
  }
}

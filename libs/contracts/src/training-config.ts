/** Aggregation strategies the aggregator implements. */
export const STRATEGIES = ['fedavg'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export type Hyperparameters = Record<string, number | string | boolean>;

/** How a project trains. Stored with the project and handed to the aggregator and learners. */
export interface TrainingConfig {
  rounds: number;
  learners: number;
  minLearnersPerRound: number;
  strategy: StrategyName;
  hyperparameters: Hyperparameters;
  dataTags: string[];
  /** Seconds a round may take before it goes on with the updates it has (if enough). */
  roundTimeoutSeconds: number;
  seed: number;
}

export interface ResourceHints {
  cpus?: number;
  memoryMiB?: number;
}

export interface MlRepoLocation {
  url: string;
  ref?: string;
}

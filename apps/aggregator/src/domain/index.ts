export * from './aggregation-errors';
export { WeightedAverage } from './weighted-average';
export { weightedMean } from './weighted-metrics';
export type { WeightedMetrics } from './weighted-metrics';

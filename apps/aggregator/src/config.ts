import { IsPort } from '@flops/config';
import { AggregatorEnvironment } from '@flops/contracts';

/** The environment the orchestrator gives an aggregator (@flops/contracts), and the aggregator's own settings. */
export class AggregatorConfig extends AggregatorEnvironment {
  /** Data-plane HTTP port; 0 lets the OS pick one (it is announced over MQTT). */
  @IsPort() FLOPS_AGGREGATOR_PORT = 0;
}

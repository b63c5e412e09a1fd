import { IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { IDENTIFIER } from '@flops/contracts';
import { InfraConfig, IsPort } from '@flops/config';

export class UiGatewayConfig extends InfraConfig {
  @IsPort() FLOPS_UI_PORT = 3003;
  @IsString() FLOPS_UI_HOST = '127.0.0.1';

  /**
   * MQTT client id. The gateway uses a clean session (it shows live events and need not have
   * them queued while it is down), but two gateways on one broker still need different ids.
   */
  @Matches(IDENTIFIER) FLOPS_UI_CLIENT_ID = 'flops-ui-gateway';

  /** Recent events kept per project, replayed to a browser that starts watching the project late. */
  @IsInt() @Min(1) @Max(10_000) FLOPS_UI_REPLAY_EVENTS = 200;

  /** Projects whose recent events are kept; the one with the oldest last event is forgotten first. */
  @IsInt() @Min(1) @Max(1_000_000) FLOPS_UI_REPLAY_PROJECTS = 1000;

  /** Bytes of events kept for replay in all (the oldest are forgotten first): bounds the gateway's memory. */
  @IsInt() @Min(1024) FLOPS_UI_REPLAY_BYTES = 64 * 1024 * 1024;
}

import { DeploymentModel } from '@flops/models';
import type { OrchestratorConfig } from '../../config';
import { OakestraHttpClient } from './oakestra-http.client';
import { OakestraDriver } from './oakestra.driver';
import { parseDataNodes } from './oakestra-sla';

/** The Oakestra driver from the orchestrator's FLOPS_OAKESTRA_* settings. */
export function oakestraDriver(c: OrchestratorConfig, deployments: DeploymentModel): OakestraDriver {
  if (!c.FLOPS_OAKESTRA_URL) throw new Error('FLOPS_DRIVER=oakestra needs FLOPS_OAKESTRA_URL (the System Manager, e.g. http://host:10000)');
  const sm = new URL(c.FLOPS_OAKESTRA_URL);
  const netUrl = c.FLOPS_OAKESTRA_NET_URL ?? `${sm.protocol}//${sm.hostname}:10099`;
  const api = new OakestraHttpClient({ url: c.FLOPS_OAKESTRA_URL.replace(/\/$/, ''), user: c.FLOPS_OAKESTRA_USER, password: c.FLOPS_OAKESTRA_PASSWORD, netUrl: netUrl.replace(/\/$/, '') });
  return new OakestraDriver(api, deployments, {
    namespace: c.FLOPS_OAKESTRA_NAMESPACE,
    mqttUrl: c.FLOPS_OAKESTRA_MQTT_URL ?? c.FLOPS_MQTT_URL,
    registryUrl: c.FLOPS_OAKESTRA_REGISTRY_URL ?? c.FLOPS_REGISTRY_URL,
    imageRegistry: c.FLOPS_OAKESTRA_IMAGE_REGISTRY ?? new URL(c.FLOPS_REGISTRY_URL).host,
    aggregatorPort: c.FLOPS_OAKESTRA_AGGREGATOR_PORT,
    dataNodes: parseDataNodes(c.FLOPS_OAKESTRA_DATA_NODES),
    pollIntervalMs: c.FLOPS_OAKESTRA_POLL_MS,
  });
}

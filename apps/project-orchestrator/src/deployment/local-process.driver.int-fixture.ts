/**
 * Fixture for local-process.driver.int-spec.ts: a stand-in orchestrator process. It deploys the
 * components in FLOPS_TEST_SPECS with a LocalProcessDriver, prints DEPLOYED and then waits until
 * the test kills it with SIGKILL (an orchestrator crash), leaving its components running.
 */
import { connectDatabase, deploymentModel } from '@flops/models';
import type { ComponentSpec } from './deployment-driver';
import { LocalDriverSettings, LocalProcessDriver } from './local-process.driver';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function main(): Promise<void> {
  const connection = await connectDatabase(required('MONGO_URL'), required('FLOPS_DB_NAME'));
  const settings = JSON.parse(required('FLOPS_TEST_DRIVER_SETTINGS')) as LocalDriverSettings;
  const driver = new LocalProcessDriver(deploymentModel(connection), settings);
  for (const spec of JSON.parse(required('FLOPS_TEST_SPECS')) as ComponentSpec[]) await driver.deploy(spec);
  process.stdout.write('DEPLOYED\n');
  setInterval(() => undefined, 60_000);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

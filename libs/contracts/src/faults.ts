/**
 * Fault injection for crash tests: FLOPS_FAULTS="name=value,name=value" in a service's
 * environment. Nothing here is active unless the variable is set; production never sets it.
 *  - orchestrator-crash-after-spawn=<component>: the orchestrator kills itself right after
 *    starting that component, before recording its pid (the moment of issue 5, case 3).
 *  - orchestrator-fail-handling=<topic name>: the orchestrator's handler of that topic throws
 *    after the broker delivered the message (a lost event, issue 5, case 4).
 *  - builder-build-delay-ms=<ms>: the builder holds each build this long before it starts (a slow build).
 */
export const FAULTS_VARIABLE = 'FLOPS_FAULTS';

export type FaultName = 'orchestrator-crash-after-spawn' | 'orchestrator-fail-handling' | 'builder-build-delay-ms';

/** The value of fault `name`, or undefined when it is not injected. */
export function injectedFault(name: FaultName, env: Record<string, string | undefined> = process.env): string | undefined {
  const spec = env[FAULTS_VARIABLE];
  if (!spec) return undefined;
  for (const pair of spec.split(',')) {
    const [key, ...value] = pair.split('=');
    if (key.trim() === name) return value.join('=').trim();
  }
  return undefined;
}

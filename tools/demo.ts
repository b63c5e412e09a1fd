/**
 * Submits the bundled example to a running FLOps (tools/demo.sh starts one), follows it round by
 * round and prints its final state and accuracy. Exit code 0 only if the project COMPLETED.
 *   node -r @swc-node/register tools/demo.ts [--rounds N] [--learners N] [--api URL]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient, TERMINAL, WORKSPACE_ROOT } from '@flops/testing';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      learners: { type: 'string', default: '3' },
      api: { type: 'string', default: `http://127.0.0.1:${process.env.FLOPS_MANAGER_PORT ?? 3000}` },
    },
  });
  const api = new ApiClient(values.api);
  const submitted = await api.submit({
    repo: { url: join(WORKSPACE_ROOT, 'examples', 'digits-tfjs') },
    training: { rounds: Number(values.rounds), learners: Number(values.learners), hyperparameters: { epochs: 2 } },
  });
  console.log(`submitted project ${submitted.id} (${values.learners} learners, ${values.rounds} rounds)`);
  let state = '';
  let rounds = 0;
  const project = await api.waitFor(
    submitted.id,
    (p) => {
      if (p.state !== state) console.log(`  state ${(state = p.state)}`);
      for (; rounds < p.rounds.length; rounds++) {
        const r = p.rounds[rounds];
        console.log(`  round ${r.round}: accuracy ${r.evalMetrics.accuracy?.toFixed(4)}, loss ${r.evalMetrics.loss?.toFixed(4)}`);
      }
      return TERMINAL.includes(p.state);
    },
    10 * 60_000,
  );
  console.log(`project ${project.id} ended ${project.state}`);
  if (project.state === 'COMPLETED') {
    console.log(`final accuracy: ${project.finalMetrics?.accuracy?.toFixed(4)}`);
    console.log(`trained model: ${project.model?.reference}`);
    console.log(`learner image: ${project.image?.reference}${project.image?.cacheHit ? ' (cache hit, no build)' : ''}`);
  } else if (project.failure) {
    console.log(`failed at stage ${project.failure.stage}: ${project.failure.reason}`);
  }
  console.log(`details: ${values.api}/api/projects/${project.id}   docs: ${values.api}/api/docs`);
  return project.state === 'COMPLETED' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);

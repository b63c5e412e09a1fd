import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTRACT_FILES, serialise } from './contracts';

describe('committed contracts (docs/contracts)', () => {
  it.each(Object.entries(CONTRACT_FILES))('%s matches the code (regenerate with `npm run contracts`)', async (file, make) => {
    const committed = readFileSync(join(__dirname, '..', file), 'utf8');
    expect(committed).toBe(serialise(await make()));
  });

  it('describes every topic with a payload schema that exists', async () => {
    const mqtt = (await CONTRACT_FILES['docs/contracts/mqtt.json']()) as {
      topics: { topic: string; payload: { $ref: string } }[];
      definitions: Record<string, { properties?: Record<string, unknown> }>;
    };
    expect(mqtt.topics.length).toBeGreaterThan(10);
    for (const { payload } of mqtt.topics) {
      expect(mqtt.definitions[payload.$ref.split('/').pop()!]).toBeDefined();
    }
    expect(Object.keys(mqtt.definitions.RoundCompleted.properties ?? {})).toEqual(
      expect.arrayContaining(['round', 'learners', 'samples', 'trainMetrics', 'evalMetrics', 'durationMs']),
    );
  });

  it('describes the component environment, the data plane and the FLT1 metadata', async () => {
    const components = (await CONTRACT_FILES['docs/contracts/components.json']()) as any;
    expect(Object.keys(components.environment.learner.schema.properties)).toEqual(
      expect.arrayContaining(['FLOPS_PROJECT_ID', 'FLOPS_TRAINING_CONFIG', 'FLOPS_LEARNER_ID', 'FLOPS_LEARNER_IMAGE']),
    );
    expect(components.environment.FLOPS_TRAINING_CONFIG.required).toEqual(expect.arrayContaining(['rounds', 'learners', 'dataTags']));
    expect(components.dataPlane.errors.statusOf['already-answered']).toBe(409);
    expect(components.dataPlane.flt1Metadata.update.required).toEqual(['numSamples']);
  });
});

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
});

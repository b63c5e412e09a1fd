/** Writes docs/contracts/*.json from the code: `npm run contracts`. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata';
import { CONTRACT_FILES, serialise } from './contracts';

async function main(): Promise<void> {
  for (const [file, make] of Object.entries(CONTRACT_FILES)) {
    writeFileSync(join(__dirname, '..', file), serialise(await make()));
    console.log(`wrote ${file}`);
  }
}

void main();

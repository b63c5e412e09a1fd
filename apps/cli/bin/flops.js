#!/usr/bin/env node
// `npx flops`: the CLI as built by `npx nx build cli` (npm run demo and npm test build it too).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const entry = join(__dirname, '..', '..', '..', 'dist', 'apps', 'cli', 'main.cjs');
if (!existsSync(entry)) {
  process.stderr.write(`flops: ${entry} is missing; build it first: npx nx build cli\n`);
  process.exit(2);
}
require(entry);

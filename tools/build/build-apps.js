// Jest globalSetup of the integration and e2e tiers: they run the apps as compiled in dist/
// (as production does), so build them first. Nx's cache makes this a quick check when nothing
// changed; tools/test.sh, which has just built them, sets FLOPS_APPS_BUILT=1 to skip it.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

module.exports = async function buildApps() {
  if (process.env.FLOPS_APPS_BUILT === '1') return;
  execFileSync('npx', ['nx', 'run-many', '-t', 'build', '--output-style=static'], {
    cwd: join(__dirname, '..', '..'),
    env: { ...process.env, NX_DAEMON: 'false' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.env.FLOPS_APPS_BUILT = '1';
};

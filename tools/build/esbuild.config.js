// esbuild options shared by every app's `nx build` (@nx/esbuild). esbuild itself does not emit
// decorator metadata, which Nest's dependency injection and class-validator need: files with
// decorators go through TypeScript's own transpiler first (esbuild-plugin-tsc).
const { join } = require('node:path');
const esbuildPluginTsc = require('esbuild-plugin-tsc');

module.exports = {
  plugins: [esbuildPluginTsc({ tsconfigPath: join(__dirname, '..', '..', 'tsconfig.base.json') })],
  // Stack traces point at the TypeScript sources.
  banner: { js: "try { require('node:process').setSourceMapsEnabled(true); } catch {}" },
};

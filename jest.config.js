// One Jest config, five tiers selected with --selectProjects:
//   unit         *.spec.ts      pure logic, no services
//   integration  *.int-spec.ts  against the real broker, database and registry (tools/infra.sh)
//   e2e          e2e/**/*.e2e-spec.ts  whole platform as separate processes
//   chaos        e2e/**/*.chaos-spec.ts  whole platform, random SIGKILLs across many projects
//   oracle       *.oracle-spec.ts  against peers' own code (Flower, dp-accounting) in a cached Python venv
//   oakestra     *.oakestra-spec.ts    against a real Oakestra (tools/oakestra.sh)
const { compilerOptions } = require('./tsconfig.base.json');

const moduleNameMapper = Object.fromEntries(
  Object.entries(compilerOptions.paths).map(([alias, [target]]) => [`^${alias}$`, `<rootDir>/${target}`]),
);

const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    },
  ],
};

// openapi-backend (libs/testing's OpenAPI checks) requires a ref parser that ships only as ES modules.
const ESM_ONLY = ['@apidevtools/json-schema-ref-parser'];
transform[`/node_modules/(${ESM_ONLY.join('|')})/.+\\.js$`] = transform['^.+\\.ts$'];

const base = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform,
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  moduleNameMapper,
  modulePathIgnorePatterns: ['<rootDir>/.flops/', '<rootDir>/dist/'],
  setupFiles: ['reflect-metadata'],
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,examples,tools}/**/*.spec.ts'] },
    // These two run the apps compiled (dist/, as in production): globalSetup builds them first.
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/{apps,libs,examples,tools}/**/*.int-spec.ts'], globalSetup: '<rootDir>/tools/build/build-apps.js' },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/e2e/**/*.e2e-spec.ts'], globalSetup: '<rootDir>/tools/build/build-apps.js' },
    { ...base, displayName: 'chaos', testMatch: ['<rootDir>/e2e/**/*.chaos-spec.ts'], globalSetup: '<rootDir>/tools/build/build-apps.js' },
    { ...base, displayName: 'oracle', testMatch: ['<rootDir>/{apps,libs}/**/*.oracle-spec.ts'] },
    // Against the real Oakestra of tools/oakestra.sh (root, cluster, worker node).
    { ...base, displayName: 'oakestra', testMatch: ['<rootDir>/{apps,libs,e2e,tools}/**/*.oakestra-spec.ts'] },
  ],
};

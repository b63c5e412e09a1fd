// One Jest config, three tiers selected with --selectProjects:
//   unit         *.spec.ts      pure logic, no services
//   integration  *.int-spec.ts  against the real broker, database and registry (tools/infra.sh)
//   e2e          e2e/**/*.e2e-spec.ts  whole platform as separate processes
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

const base = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform,
  moduleNameMapper,
  modulePathIgnorePatterns: ['<rootDir>/.flops/', '<rootDir>/dist/'],
  setupFiles: ['reflect-metadata'],
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,examples,tools}/**/*.spec.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/{apps,libs,examples,tools}/**/*.int-spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/e2e/**/*.e2e-spec.ts'] },
    // Against the real Oakestra of tools/oakestra.sh (root, cluster, worker node).
    { ...base, displayName: 'oakestra', testMatch: ['<rootDir>/{apps,libs,e2e,tools}/**/*.oakestra-spec.ts'] },
  ],
};

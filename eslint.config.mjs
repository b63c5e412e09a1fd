// Strict from day one: contract and promise bugs are what the compiler and linter should catch.
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.flops/**', '.nx/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
      // What a project is, by its tags (project.json), and what it may therefore use:
      //   type:app     an app: any lib but the test helpers
      //   scope:pure   plain logic and the wire (contracts, lifecycle, tensor-codec, config, fl-engine):
      //                only other pure libs, and no database, broker, HTTP, process or file access
      //   scope:infra  reaches the world (models, messaging, oci-registry, service-kit)
      //   scope:test   test helpers (testing): for tests, tools and benchmarks only
      // Libs never use apps.
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['scope:pure', 'scope:infra'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            {
              sourceTag: 'scope:pure',
              onlyDependOnLibsWithTags: ['scope:pure'],
              bannedExternalImports: [
                '@nestjs/*',
                'mongoose',
                'mongodb',
                'mqtt',
                'express',
                'tar',
                'node:child_process',
                'node:fs',
                'node:fs/promises',
                'node:http',
                'node:https',
                'node:net',
                'child_process',
                'fs',
                'http',
                'net',
              ],
            },
            { sourceTag: 'scope:infra', onlyDependOnLibsWithTags: ['scope:pure', 'scope:infra'] },
            { sourceTag: 'scope:test', onlyDependOnLibsWithTags: ['scope:pure', 'scope:infra', 'scope:test'] },
          ],
        },
      ],
    },
  },
  {
    // Tests and tools may print, use loose JSON and require JS modules.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.oakestra-spec.ts', '**/*.oracle-spec.ts', 'libs/*/oracle/**/*.ts', '**/testing/**/*.ts', 'e2e/**/*.ts', 'tools/**/*.ts', 'libs/testing/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/unbound-method': 'off',
      // Fakes implement async interfaces without awaiting anything.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      // A test may check that one app accepts what another produces (e.g. planner env → aggregator config).
      '@nx/enforce-module-boundaries': 'off',
    },
  },
);

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
      // Apps may use libs; libs never use apps; the contracts lib depends on nothing but validators.
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            // Pure libs (the FL engine and what it builds on) do no I/O and know no framework.
            {
              sourceTag: 'kind:pure',
              onlyDependOnLibsWithTags: ['kind:pure'],
              bannedExternalImports: ['@nestjs/*', 'express', 'mongoose', 'mqtt', 'rxjs', '@tensorflow/*', 'node:fs', 'node:net', 'node:http', 'node:child_process'],
            },
          ],
        },
      ],
    },
  },
  {
    // Tests and tools may print, use loose JSON and require JS modules.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.oracle-spec.ts', 'libs/*/oracle/**/*.ts', '**/testing/**/*.ts', 'e2e/**/*.ts', 'tools/**/*.ts', 'libs/testing/**/*.ts', 'bench/**/*.ts'],
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

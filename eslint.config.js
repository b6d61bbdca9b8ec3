import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** An import restriction: any specifier whose path goes through one of these top-level folders. */
const tier = (folder, message) => ({ group: [`**/${folder}/**`, `${folder}/**`], message });
const noServer = tier('server', 'server/ is the all-in-one composition root: nothing imports it.');
const noClient = tier('client', 'client/ is a consumer of the contract, not a dependency of the server.');
const noWeb = tier('web', 'web/ is a consumer of the contract, not a dependency of the server.');

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'core/db/generated/',
      'dist/',
      'web/dist/',
      '.sst/',
      'coverage/',
      'sst-env.d.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      // Configuration is read in exactly one place so every variable is validated and documented.
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through core/config.ts.' },
      ],
    },
  },
  // Tier boundaries (docs/architecture: functions/ and realtime/ never import each other, both
  // import core/, core/ imports no tier, nothing imports server/).
  {
    files: ['core/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            tier('functions', 'core/ imports no tier.'),
            tier('realtime', 'core/ imports no tier.'),
            noServer,
            noClient,
            noWeb,
          ],
        },
      ],
    },
  },
  {
    files: ['functions/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            tier('realtime', 'functions/ and realtime/ never import each other.'),
            noServer,
            noClient,
            noWeb,
          ],
        },
      ],
    },
  },
  {
    files: ['realtime/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            tier('functions', 'functions/ and realtime/ never import each other.'),
            noServer,
            noClient,
            noWeb,
          ],
        },
      ],
    },
  },
  {
    // Tests may start the whole server; product code never does.
    files: ['infra/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noServer] }] },
  },
  // The client library and the web client take only types from the server's code: no
  // runtime server code reaches a browser or a native app.
  {
    files: ['client/**/*.ts', 'web/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: ['core', 'functions', 'realtime', 'server'].map((folder) => ({
            group: [`**/${folder}/**`],
            allowTypeImports: true,
            message: 'client/ and web/ import only types from the server tiers.',
          })),
        },
      ],
    },
  },
  {
    files: [
      'core/config.ts',
      'scripts/**',
      'test/**',
      '**/*.test.ts',
      'bench/**',
      'sst.config.ts',
      'infra/**',
      'vitest.config.ts',
    ],
    rules: { 'no-restricted-properties': 'off', 'no-console': 'off' },
  },
);

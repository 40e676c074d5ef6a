// One lint setup for the repo: typescript-eslint with type information, so that an
// unawaited promise (which can lose a message in a broker) is an error.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundariesConfig from './eslint.boundaries.cjs';

const { boundaries } = boundariesConfig;

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'proto/gen/',
      'operator/gen/',
      'common/gen/',
      'coverage/',
      '**/*.mjs',
      '**/*.js',
      '**/*.cjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name=/^(it|test|describe)$/][callee.property.name='only']",
          message: 'No focused tests: .only would skip the rest of the suite.',
        },
      ],
    },
  },
  ...boundaries,
);

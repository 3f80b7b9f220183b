// ESLint flat config: typescript-eslint's type-checked rules over src/, test/, scripts/ and bench/.
// The rules that guard this codebase's failure modes (unawaited promises, promises passed where a
// callback is expected, non-exhaustive switches over unions) are errors; function length is a warning.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.dev/**', 'test-artifacts/**', 'bench/profiles/**', '.bench-build/**', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      'max-lines-per-function': ['warn', { max: 50, skipBlankLines: true, skipComments: true }],
      // Fastify hooks and handlers, and interfaces that promise a Promise, are async by idiom: a
      // synchronous throw inside becomes a rejection the caller routes (Fastify's error handler,
      // a .catch). Requiring an await there would only add ceremony.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests and benches: long describe/it bodies are the norm; the promise rules still apply.
    // They read untyped JSON (HTTP bodies, Redis payloads, socket messages) and assert on it, so
    // the no-unsafe-*/no-explicit-any family would only demand casts that prove nothing.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'max-lines-per-function': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Test doubles implement async interfaces (lease stores, fetch, sleep) with synchronous bodies.
      '@typescript-eslint/require-await': 'off',
    },
  },
);

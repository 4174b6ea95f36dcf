import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Imports run one way: a module of src/ imports only from the tiers below its
 * own, never from its tier or above (README.md, "Source layout"). A folder
 * imports itself freely. test/unit/src-has-no-import-cycles.test.ts proves the
 * file graph has no cycle.
 */
const LAYERS = [
  ['core'],
  ['config', 'metrics', 'protocols'],
  ['store', 'compare'],
  ['gates'],
  ['report'],
  ['judge'],
  ['capture', 'mock'],
  ['replay', 'shadow'],
  ['formats', 'admin'],
  ['orchestrate', 'daemon.ts'],
  ['cli'],
  ['main.ts'],
];

/** The first path segment after the `./` or `../` chain of a relative import names a src/ module. */
function importOf(module) {
  const name = module.endsWith('.ts') ? `${module.slice(0, -3).replace('.', '\\.')}\\.js$` : `${module}/`;
  return `^\\.\\.?/(?:\\.\\./)*${name}`;
}

function layerRule(module, above, allowed = []) {
  const patterns = above
    .filter((m) => m !== module && !allowed.includes(m))
    .map((m) => ({ regex: importOf(m), message: `${module} may not import ${m}: imports run one way (layer order in eslint.config.js and README.md).` }));
  return { 'no-restricted-imports': ['error', { patterns }] };
}

const layerConfigs = LAYERS.flatMap((tier, i) => {
  const above = LAYERS.slice(i).flat();
  return tier.map((module) => ({
    files: [module.endsWith('.ts') ? `src/${module}` : `src/${module}/**/*.ts`],
    rules: layerRule(module, above),
  }));
});
export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'examples/**/*.js', '.bench-out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // fastify handlers and interface implementations are async by contract
      '@typescript-eslint/require-await': 'off',
    },
  },
  ...layerConfigs,
  {
    files: ['src/cli/**', 'src/main.ts', 'bench/**', 'examples/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', Buffer: 'readonly' } }, rules: { 'no-console': 'off' } },
);

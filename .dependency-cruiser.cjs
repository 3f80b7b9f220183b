/**
 * Layering of src/ (docs/architecture.md). Domain folders never import the HTTP layer; the
 * composition root (src/main.ts) is the only file that wires api/ to the rest.
 */
const domain = '^src/(app|registry|workers|scheduler|listeners|realtime|flags|shared|config|console)/';
module.exports = {
  forbidden: [
    {
      name: 'domain-not-to-api',
      severity: 'error',
      comment: 'Domain folders must not depend on the web framework layer (src/api). Put shared interfaces in src/app, token helpers in src/shared.',
      from: { path: domain },
      to: { path: '^src/api/' },
    },
    {
      name: 'only-root-wires-api',
      severity: 'error',
      comment: 'Outside src/api itself, only the composition root (src/main.ts) may import src/api.',
      from: { path: '^src/', pathNot: ['^src/api/', '^src/main\\.ts$'] },
      to: { path: '^src/api/' },
    },
    {
      name: 'shared-is-the-floor',
      severity: 'error',
      comment: 'src/shared and src/config are the floor: they import nothing from the domain folders.',
      from: { path: '^src/(shared|config)/' },
      to: { path: '^src/(app|api|registry|workers|scheduler|listeners|realtime|flags|console)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make start-up order and testing fragile.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-test-code-in-src',
      severity: 'error',
      comment: 'Production code never imports tests, test helpers, benches or dev scripts.',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'no-dev-deps-in-src',
      severity: 'error',
      comment: 'Production code may only use runtime dependencies (the image installs --omit=dev).',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
  },
};

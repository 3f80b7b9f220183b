import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/globalSetup.ts'],
    testTimeout: 30000,
    hookTimeout: 60000,
    pool: 'forks',
    // Two cores: a few files at once keeps the emulator- and worker-heavy files from starving.
    maxWorkers: 3,
    reporters: ['default'],
    // Never probe the GCE metadata server from tests (no Google credentials exist here).
    env: { METADATA_SERVER_DETECTION: 'none' },
  },
});

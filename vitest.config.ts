import { defineConfig } from 'vitest/config';

// Unit tests need nothing running. Integration tests share one broker and one registry per run,
// started (or reused, or taken from KAFKA_BROKERS / SCHEMA_REGISTRY_URL) by test/global-setup.ts.
// Each test file runs in its own process (forks + isolate) because chDB binds one data
// directory per process.
export default defineConfig({
  test: {
    pool: 'forks',
    isolate: true,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          fileParallelism: false,
        },
      },
    ],
  },
});

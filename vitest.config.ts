import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites start real servers; two cores run two files at a time comfortably.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Suites run the CLI as `node --import tsx`; tsx would keep a compile cache in /tmp/tsx-<uid>,
    // and a test run leaves /tmp as it found it. Start-up is no slower without it (esbuild is fast).
    env: { TSX_DISABLE_CACHE: '1' },
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["spool-source"] },
  ssr: { resolve: { conditions: ["spool-source"] } },
  // Tests here fsync real files and start threads and processes: vitest's 5 s default fails
  // them on a machine whose cores are busy (seen with two busy loops running). A bound, not a
  // target: tests wait for readiness, never for time.
  // test/browser needs Chromium: `npm run test:browser` runs it (vitest.browser.config.ts).
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/browser/**", "**/node_modules/**"],
    testTimeout: 120_000,
  },
});

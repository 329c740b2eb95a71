import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["spool-source"] },
  ssr: { resolve: { conditions: ["spool-source"] } },
  // Tests here fsync real files and start threads and processes: vitest's 5 s default fails
  // them on a machine whose cores are busy (seen with two busy loops running). A bound, not a
  // target: tests wait for readiness, never for time.
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000 },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["spool-source"] },
  ssr: { resolve: { conditions: ["spool-source"] } },
  // The conformance suite fsyncs real files and the model tests replay thousands of paths:
  // vitest's 5 s default fails them on a machine whose cores are busy. A bound, not a target.
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000 },
});

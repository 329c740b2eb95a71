import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["spool-source"] },
  ssr: { resolve: { conditions: ["spool-source"] } },
  // The JetStream case starts a nats-server: vitest's 5 s default fails it on a machine whose
  // cores are busy. A bound, not a target: tests wait for readiness, never for time.
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000 },
});

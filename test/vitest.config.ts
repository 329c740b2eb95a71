import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["spool-source"] },
  ssr: { resolve: { conditions: ["spool-source"] } },
  test: { include: ["*.test.ts"], testTimeout: 120_000 },
});

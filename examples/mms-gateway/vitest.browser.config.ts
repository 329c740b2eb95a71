import { defineConfig } from "vitest/config";

// `npm run test:browser`: the live page in Debian's Chromium (test/browser), apart from
// `npm test` (vitest.config.ts), so the packaged test runs need no browser.
export default defineConfig({
  resolve: { conditions: ["spool-source"] },
  ssr: { resolve: { conditions: ["spool-source"] } },
  // A bound for a loaded machine, not a target: the test waits on the page's DOM.
  test: { include: ["test/browser/**/*.test.ts"], testTimeout: 120_000 },
});

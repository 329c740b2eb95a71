import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCampaign } from "./crash/Campaign.js";

describe("kill -9 while appending, taking and acking", () => {
  it("keeps every acknowledged append intact and every acknowledged message done, round after round", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "spool-kill-"));
    try {
      const result = await runCampaign(dir, 4);
      // The rounds did real work: appends and acks were cut off mid-stream, not before it.
      expect(result.acknowledgedAppends).toBeGreaterThan(100);
      expect(result.acknowledgedAcks).toBeGreaterThan(10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

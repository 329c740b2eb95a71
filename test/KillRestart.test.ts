import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCampaign } from "./crash/Campaign.js";

const worker = new URL("./crash/worker.ts", import.meta.url).pathname;
// Four times a Linux pipe's 64 KiB buffer: a worker writing its promises to an undrained pipe
// would have died of EAGAIN well before this.
const PROMISED_BYTE_SIZE = 256 * 1024;

// The timeouts are bounds for a loaded machine (each round starts a worker through tsx).
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
  }, 300_000);

  it("the crash worker goes on recording its promises while nobody reads its output", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "spool-kill-"));
    const promises = path.join(dir, "promises.log");
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=spool-source",
        worker,
        path.join(dir, "spool"),
        "0",
        promises,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    // Its stdout is never read, as a parent too busy to read it would leave it.
    child.stdout.pause();
    let errors = "";
    child.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString("utf8")));
    const exited = new Promise<string>((resolve) =>
      child.on("exit", (code, signal) => resolve(`code ${code}, signal ${signal}: ${errors}`)),
    );
    try {
      let exit: string | undefined;
      void exited.then((how) => (exit = how));
      for (;;) {
        expect(exit).toBeUndefined();
        const written = statSync(promises, { throwIfNoEntry: false })?.size ?? 0;
        if (written >= PROMISED_BYTE_SIZE) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function runJob(env: Record<string, string>): string {
  return execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--conditions=spool-source",
      path.join(root, "examples/write-job/src/main.ts"),
    ],
    { cwd: root, env: { ...process.env, ...env }, encoding: "utf8" },
  );
}

describe("the write job (npm run write-job)", () => {
  it.each(["file", "mmap"])(
    "appends, reopens and verifies every record in a fresh spool (%s)",
    (adapter) => {
      const dir = mkdtempSync(path.join(tmpdir(), "spool-job-"));
      try {
        const output = runJob({ SPOOL_DIR: dir, WRITERS: "16", MESSAGES: "50", ADAPTER: adapter });
        expect(output).toContain("reopened and verified 800 of 800 records byte-identical");
        expect(output).toMatch(/durable msgs\/s: \d+/);
        // A second run appends after the first and verifies its own records too.
        const again = runJob({ SPOOL_DIR: dir, WRITERS: "4", MESSAGES: "10", ADAPTER: adapter });
        expect(again).toContain("opened after scanning 800 records");
        expect(again).toContain("reopened and verified 40 of 40 records byte-identical");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it.each([
    [{ WRITERS: "many" }, "WRITERS must be a whole number from 1 to 65536, not many"],
    [{ MESSAGES: "0" }, "MESSAGES must be a whole number from 1 to 10000000, not 0"],
    [{ PAYLOAD_BYTES: "8" }, "PAYLOAD_BYTES must be a whole number from 32 to 8388608, not 8"],
    [{ ADAPTER: "tape" }, "ADAPTER must be file, mmap or msync, not tape"],
  ])("refuses a bad environment before it opens a spool (%o)", (env, message) => {
    const dir = path.join(tmpdir(), `spool-job-refused-${process.pid}`);
    const failure = (() => {
      try {
        runJob({ SPOOL_DIR: dir, ...env });
        return undefined;
      } catch (error) {
        return error as { status: number; stderr: string };
      }
    })();
    expect(failure?.status).toBe(2);
    expect(failure?.stderr).toContain(message);
    expect(existsSync(dir)).toBe(false);
  });
});

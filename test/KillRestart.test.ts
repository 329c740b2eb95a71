import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { openSpool } from "@spool/actors";
import { describe, expect, it } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Runs the worker until `ms` after it is ready, SIGKILLs it, and returns what it printed. */
function runAndKill(dir: string, round: number, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=spool-source",
        path.join(here, "crash/worker.ts"),
        dir,
        String(round),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    let errors = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (timer === undefined && output.includes("READY")) {
        timer = setTimeout(() => child.kill("SIGKILL"), ms);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      errors += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("exit", (_code, signal) => {
      clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`worker exited on its own: ${errors}`));
      else resolve(output);
    });
  });
}

describe("kill -9 while appending, taking and acking", () => {
  it("keeps every acknowledged append intact and every acknowledged message done, round after round", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "spool-kill-"));
    const appended = new Map<number, string>();
    const acked = new Set<number>();
    try {
      for (let round = 0; round < 4; round++) {
        // Killed at a different moment each round, after the worker has started working.
        const output = await runAndKill(dir, round, 200 + ((round * 577) % 600));
        for (const line of output.split("\n")) {
          if (line.startsWith("A ")) {
            const [, seqText, payload] = line.split(" ");
            appended.set(Number(seqText), payload!);
          } else if (line.startsWith("K ")) {
            acked.add(Number(line.slice(2)));
          }
        }
        expect(appended.size).toBeGreaterThan(0);
        const spool = await openSpool({
          dir,
          segmentByteSize: 256 * 1024,
          indexSegmentEntries: 1024,
        });
        // Every acknowledged append is present and byte-identical (segments of fully acked
        // messages may be gone: those were done, which the ack set covers).
        const present = new Map<number, string>();
        for await (const record of spool.records()) {
          present.set(record.seq, new TextDecoder().decode(record.payload));
        }
        for (const [seq, payload] of appended) {
          if (present.has(seq)) expect(present.get(seq)).toBe(payload);
          else expect(acked.has(seq) || seq < Math.min(...present.keys())).toBe(true);
        }
        // No acknowledged message is delivered again.
        const delivered: number[] = [];
        for (let lease = await spool.take(); lease; lease = await spool.take()) {
          delivered.push(lease.seq);
        }
        expect(delivered.filter((seq) => acked.has(seq))).toEqual([]);
        // Every appended message not acknowledged is delivered again (at least once), except
        // at most one per taker per round: an ack that became durable just before the kill,
        // before the worker could print it.
        const deliveredSet = new Set(delivered);
        const missing = [...appended.keys()].filter(
          (seq) => !acked.has(seq) && !deliveredSet.has(seq),
        );
        expect(missing.length).toBeLessThanOrEqual(4 * (round + 1));
        await spool.close();
      }
      // The rounds did real work: appends and acks were cut off mid-stream, not before it.
      expect(appended.size).toBeGreaterThan(100);
      expect(acked.size).toBeGreaterThan(10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

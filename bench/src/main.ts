/**
 * `npm run bench`: every case in one run, each in its own child process, then a table, ratios
 * Spool/bare loop and Spool/fdatasync, and `results/latest.json`. `--quick` runs shorter cases.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { CaseResult, CaseSpec, SystemName } from "./Case.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const seconds = quick ? 1 : 4;
const dir = path.resolve(here, "../../spool-data/bench");
// 1 GiB holds 4 s of the bare loop at 1 KiB (about 200,000 msgs/s here); 256 MiB holds 1 s.
const segmentByteSize = (quick ? 256 : 1024) * 1024 * 1024;

const cases: CaseSpec[] = [];
const add = (system: SystemName, writers: number, payloadByteSize = 1024) =>
  cases.push({ system, writers, payloadByteSize, seconds, dir, segmentByteSize });
add("fdatasync-4k", 1, 4096);
for (const writers of [1, 16, 256]) {
  for (const system of [
    "bare-file",
    "spool-file",
    "spool-mmap-fdatasync",
    "spool-mmap-msync",
  ] as const) {
    add(system, writers);
  }
}
// Messages through the whole queue: appenders and consumers (take + ack) at once; and the same
// with the data and index files' I/O taken one at a time (one synchronizer for both files).
for (const writers of [1, 16, 256]) add("spool-take-ack", writers);
for (const writers of [16, 256]) add("spool-take-ack-one-file-at-a-time", writers);

const results: CaseResult[] = [];
for (const [index, spec] of cases.entries()) {
  process.stderr.write(
    `[${index + 1}/${cases.length}] ${spec.system} ×${spec.writers} ${spec.payloadByteSize} B … `,
  );
  const output = execFileSync(
    process.execPath,
    // The packages run from their built dist/, as an application would run them.
    ["--import", "tsx", path.join(here, "Case.ts"), JSON.stringify(spec)],
    { encoding: "utf8" },
  );
  const result = JSON.parse(output.trim().split("\n").pop()!) as CaseResult;
  results.push(result);
  process.stderr.write(`${result.msgsPerSecond} msgs/s\n`);
}

const find = (system: SystemName, writers: number) =>
  results.find((r) => r.system === system && r.writers === writers);
const fdatasync = find("fdatasync-4k", 1)!;
const table = results.map((r) => {
  const bare = find("bare-file", r.writers);
  return {
    system: r.system,
    writers: r.writers,
    "msgs/s": r.msgsPerSecond,
    "MiB/s": r.mibPerSecond,
    flushes: r.flushes,
    "mean batch": r.meanBatch,
    "p50 ms": r.p50Ms,
    "p99 ms": r.p99Ms,
    "p999 ms": r.p999Ms,
    "cpu s/100k": r.cpuSecondsPer100k,
    "loop busy": r.eventLoopUtilization,
    "÷ bare":
      bare && r.system !== "fdatasync-4k" && !r.system.startsWith("spool-take-ack")
        ? Math.round((r.msgsPerSecond / bare.msgsPerSecond) * 100) / 100
        : "",
    "p50 ÷ fdatasync": Math.round((r.p50Ms / fdatasync.p50Ms) * 100) / 100,
  };
});
console.table(table);
mkdirSync(path.resolve(here, "../results"), { recursive: true });
const report = { date: new Date().toISOString(), node: process.version, quick, results };
writeFileSync(path.resolve(here, "../results/latest.json"), `${JSON.stringify(report, null, 2)}\n`);
console.log("wrote bench/results/latest.json");

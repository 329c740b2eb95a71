/**
 * `npm run bench`: every case in one run, each in its own child process (so no case inherits
 * another's heap, JIT state or page cache pressure), then a table, Spool's ratios to every peer,
 * the issue's targets checked against this run, `results/latest.json` and SVG charts.
 * `--quick` runs every case briefly as a smoke test (CI runs it; its figures mean nothing).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { latencyChart, throughputChart } from "./Chart.js";
import type { CaseResult, CaseSpec, SystemName } from "./Measurement.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const seconds = quick ? 0.5 : 4;
const dir = path.resolve(here, "../../spool-data/bench");
const MIB = 1024 * 1024;
// No case may pay for a segment roll (the bare loop cannot roll) or for pre-zeroing the next
// segment, which Spool starts at three quarters of one: 1.5 GiB holds the 1 s warm-up and 4 s
// of 300,000 1 KiB msgs/s, or 1.5 s of 64 KiB at 800 MiB/s. The mmap cases get 1 GiB: mmap-io cannot
// map 2 GiB (its length is a signed 32-bit int), and they run far below that rate. (In steady
// state Spool pre-zeroes a segment per segment written: see the README's Performance section.)
const segmentFor = (system: SystemName) =>
  (quick ? 256 : system.includes("mmap") ? 1024 : 2048) * MIB;
const secondsFor = (payloadByteSize: number) =>
  payloadByteSize > 4096 ? Math.min(seconds, 1.5) : seconds;
// --quick: one writer count, so the smoke run takes about a minute.
const WRITER_COUNTS = quick ? [16] : [1, 16, 256];

const cases: CaseSpec[] = [];
const add = (system: SystemName, writers: number, payloadByteSize = 1024) =>
  cases.push({
    system,
    writers,
    payloadByteSize,
    seconds: secondsFor(payloadByteSize),
    dir,
    segmentByteSize: segmentFor(system),
  });

// The disk's limits: one 4 KiB fdatasync or msync, and sequential durable bandwidth in 1 MiB.
for (const system of ["fdatasync-per-message", "msync-per-message"] as const) {
  add(system, 1, 4096);
  add(system, 1, MIB);
}
const APPENDERS: readonly SystemName[] = [
  "spool-file",
  "spool-file-blocking-flush",
  "spool-mmap-fdatasync",
  "spool-mmap-msync",
  "bare-file",
  "lmdb",
  "sqlite-tx-per-tick",
  "sqlite-tx-per-message",
  "level-batch-per-tick",
  "level-sync-put",
  "fdatasync-per-message",
];
for (const writers of WRITER_COUNTS) for (const system of APPENDERS) add(system, writers);
for (const system of [
  "spool-file",
  "spool-mmap-fdatasync",
  "bare-file",
  "lmdb",
  "sqlite-tx-per-tick",
  "level-batch-per-tick",
] as const) {
  if (!quick || system === "spool-file") add(system, 16, 64 * 1024);
}
// The disk alone with as many 1 KiB records in flight as the 256 appenders allow, in one, two
// or four flushes: what any design whose appenders wait for durability can reach, at best.
for (const flushers of [1, 2, 4] as const) {
  for (const writers of WRITER_COUNTS.filter((count) => count >= 16)) {
    if (writers === 256 || quick) add(`disk-in-flight-${flushers}`, writers);
  }
}
// Messages through the whole queue: appenders and consumers (take + ack) at once; and the same
// with the data and index files' I/O taken one at a time (one synchronizer for both files).
// Writers in 8 worker threads (through spool.port()), beside the in-process rows above;
// And from 4 processes over the spool's Unix socket. And the other placement: the spool in a
// thread of its own, the writers in the main thread (beside spool-file and spool-mmap-msync).
for (const writers of WRITER_COUNTS.filter((count) => count >= 16)) {
  add("spool-threads-8", writers);
  add("spool-processes-4", writers);
}
for (const writers of WRITER_COUNTS) {
  add("spool-in-thread-file", writers);
  add("spool-in-thread-mmap-msync", writers);
}
for (const writers of WRITER_COUNTS) add("spool-take-ack", writers);
for (const writers of WRITER_COUNTS.filter((count) => count > 1)) {
  add("spool-take-ack-one-file-at-a-time", writers);
}

const started = Date.now();
const results: CaseResult[] = [];
for (const [index, spec] of cases.entries()) {
  const elapsed = (Date.now() - started) / 1000;
  const left =
    index === 0 ? "" : `, ~${Math.round((elapsed / index) * (cases.length - index))} s left`;
  process.stderr.write(
    `[${index + 1}/${cases.length}${left}] ${spec.system} ×${spec.writers} ` +
      `${spec.payloadByteSize >= 1024 ? `${spec.payloadByteSize / 1024} KiB` : `${spec.payloadByteSize} B`} … `,
  );
  const output = execFileSync(
    process.execPath,
    // The packages run from their built dist/, as an application would run them.
    ["--import", "tsx", path.join(here, "Case.ts"), JSON.stringify(spec)],
    { encoding: "utf8", maxBuffer: 64 * MIB },
  );
  const result = JSON.parse(output.trim().split("\n").pop()!) as CaseResult;
  results.push(result);
  process.stderr.write(`${result.msgsPerSecond.toLocaleString("en")} msgs/s\n`);
}

const find = (system: SystemName, writers: number, payloadByteSize = 1024) =>
  results.find(
    (r) => r.system === system && r.writers === writers && r.payloadByteSize === payloadByteSize,
  );
const round2 = (value: number) => Math.round(value * 100) / 100;
const fdatasync4k = find("fdatasync-per-message", 1, 4096)!;
const sequential = find("fdatasync-per-message", 1, MIB)!;

console.table(
  results.map((r) => ({
    system: r.system,
    writers: r.writers,
    size: r.payloadByteSize >= 1024 ? `${r.payloadByteSize / 1024}K` : `${r.payloadByteSize}`,
    "msgs/s": r.msgsPerSecond,
    "MiB/s": r.mibPerSecond,
    flushes: r.flushes ?? "",
    "mean batch": r.meanBatch ?? "",
    "p50 ms": r.p50Ms,
    "p99 ms": r.p99Ms,
    "p999 ms": r.p999Ms,
    "cpu s/100k": r.cpuSecondsPer100k,
    "loop busy": r.eventLoopUtilization,
  })),
);

// Spool (default file adapter) divided by each peer, same writers and message size.
const PEERS: readonly SystemName[] = APPENDERS.filter((s) => s !== "spool-file");
const ratios = PEERS.map((peer) => {
  const row: Record<string, string | number> = { "spool-file ÷": peer };
  for (const [writers, size] of [
    [1, 1024],
    [16, 1024],
    [256, 1024],
    [16, 64 * 1024],
  ] as const) {
    const spool = find("spool-file", writers, size);
    const other = find(peer, writers, size);
    row[`×${writers} ${size / 1024}K`] =
      spool && other ? round2(spool.msgsPerSecond / other.msgsPerSecond) : "";
  }
  return row;
});
console.table(ratios);

const msgs = (system: SystemName, writers: number, size = 1024) =>
  find(system, writers, size)?.msgsPerSecond;
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? undefined : round2(a / b);
const spool1 = find("spool-file", 1);
const blocking1 = find("spool-file-blocking-flush", 1);
const targets: readonly (readonly [string, number | undefined, number])[] = [
  ["1 KiB ×256: Spool ÷ lmdb-js ≥ 2", ratio(msgs("spool-file", 256), msgs("lmdb", 256)), 2],
  [
    "1 KiB ×256: Spool ÷ bare loop ≥ 0.9",
    ratio(msgs("spool-file", 256), msgs("bare-file", 256)),
    0.9,
  ],
  [
    "1 KiB ×256: Spool ÷ fdatasync per message ≥ 20",
    ratio(msgs("spool-file", 256), msgs("fdatasync-per-message", 256)),
    20,
  ],
  ["1 KiB ×16: Spool ÷ lmdb-js ≥ 1.2", ratio(msgs("spool-file", 16), msgs("lmdb", 16)), 1.2],
  // Issue 19: the xstate machines cost little against the bare loop, at every writer count.
  ["1 KiB ×16: Spool ÷ bare loop ≥ 0.8", ratio(msgs("spool-file", 16), msgs("bare-file", 16)), 0.8],
  ["1 KiB ×1: Spool ÷ bare loop ≥ 0.8", ratio(msgs("spool-file", 1), msgs("bare-file", 1)), 0.8],
  [
    "1 KiB ×256: Spool ÷ SQLite (transaction per tick) ≥ 1",
    ratio(msgs("spool-file", 256), msgs("sqlite-tx-per-tick", 256)),
    1,
  ],
  [
    "1 KiB ×16: Spool ÷ SQLite (transaction per tick) ≥ 1",
    ratio(msgs("spool-file", 16), msgs("sqlite-tx-per-tick", 16)),
    1,
  ],
  [
    "64 KiB ×16: Spool MiB/s ÷ sequential durable ≥ 0.8",
    ratio(find("spool-file", 16, 64 * 1024)?.mibPerSecond, sequential.mibPerSecond),
    0.8,
  ],
  ["1 writer: Spool p50 ÷ one 4 KiB fdatasync ≤ 1.3", ratio(spool1?.p50Ms, fdatasync4k.p50Ms), 1.3],
  ["1 writer: Spool p99 ÷ one 4 KiB fdatasync ≤ 2", ratio(spool1?.p99Ms, fdatasync4k.p50Ms), 2],
  // The same, percentile for percentile: the disk's own p99 against Spool's.
  [
    "1 writer: Spool p99 ÷ one 4 KiB fdatasync's p99 ≤ 2",
    ratio(spool1?.p99Ms, fdatasync4k.p99Ms),
    2,
  ],
  // Not the default: the file adapter's blockingFlushByteSizeMax (see the README).
  [
    "1 writer, blocking flushes (option): p50 ÷ one 4 KiB fdatasync ≤ 1.3",
    ratio(blocking1?.p50Ms, fdatasync4k.p50Ms),
    1.3,
  ],
  [
    "1 writer, blocking flushes (option): p99 ÷ one 4 KiB fdatasync ≤ 2",
    ratio(blocking1?.p99Ms, fdatasync4k.p50Ms),
    2,
  ],
];
// What the disk allows any design at 256 appenders: the best of the disk-in-flight cases (256
// records of 1,064 bytes in flight, nothing done per record) divided by fdatasync per message.
// A target above it asks more of the disk than it gave with no software in the way.
const inFlight = (["disk-in-flight-1", "disk-in-flight-2", "disk-in-flight-4"] as const)
  .map((system) => find(system, 256))
  .filter((r): r is CaseResult => r !== undefined)
  .reduce<CaseResult | undefined>(
    (best, r) => (best === undefined || r.msgsPerSecond > best.msgsPerSecond ? r : best),
    undefined,
  );
const ceiling = ratio(inFlight?.msgsPerSecond, msgs("fdatasync-per-message", 256));
if (inFlight !== undefined && ceiling !== undefined) {
  process.stdout.write(
    `The disk alone with 256 records in flight (${inFlight.system}): ` +
      `${inFlight.msgsPerSecond.toLocaleString("en")} msgs/s, ${ceiling}× fdatasync per message; ` +
      `Spool reached ${ratio(msgs("spool-file", 256), inFlight.msgsPerSecond)} of it.\n`,
  );
}
console.table(
  targets.map(([target, value, bar]) => ({
    target,
    "this run": value ?? "not run",
    met: value === undefined ? "" : target.includes("≤") ? value <= bar : value >= bar,
  })),
);

const resultsDir = path.resolve(here, "../results");
mkdirSync(resultsDir, { recursive: true });
const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
const date = new Date().toISOString();
const subtitle = `${date.slice(0, 10)}, ${os.cpus().length} cores${quick ? ", --quick" : ""}`;
const report = {
  date,
  machine,
  quick,
  disk: {
    fdatasync4kPerSecond: fdatasync4k.msgsPerSecond,
    fdatasync4kP50Ms: fdatasync4k.p50Ms,
    sequentialDurableMiBPerSecond: sequential.mibPerSecond,
    msync4kP50Ms: find("msync-per-message", 1, 4096)!.p50Ms,
    msync1MiBMiBPerSecond: find("msync-per-message", 1, MIB)!.mibPerSecond,
  },
  targets: targets.map(([target, value]) => ({ target, value: value ?? null })),
  fdatasyncPerMessageCeiling256: ceiling ?? null,
  diskInFlight256:
    inFlight === undefined
      ? null
      : { system: inFlight.system, msgsPerSecond: inFlight.msgsPerSecond },
  ratios,
  results,
};
writeFileSync(path.join(resultsDir, "latest.json"), `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(path.join(resultsDir, "throughput.svg"), throughputChart(results, subtitle));
for (const writers of quick ? [16] : [1, 256]) {
  writeFileSync(
    path.join(resultsDir, `latency-${writers}.svg`),
    latencyChart(results, writers, subtitle),
  );
}
console.log(`wrote bench/results/: latest.json, throughput.svg, latency-*.svg (${machine})`);

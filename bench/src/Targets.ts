/**
 * The issues' targets, checked against one run: Spool's ratios to its peers and to the disk
 * (issues 6 and 19), the whole queue, threads, processes and the mmap adapter (issue 20), Spool
 * on JetStream against the client used directly (issue 21), and what the disk alone allowed
 * any design at 256 appenders.
 */
import type { CaseResult } from "./Measurement.js";
import type { Find } from "./Report.js";

/** A target: what it asks, this run's value (undefined when a case it needs did not run), the bar. */
export type Target = readonly [string, number | undefined, number];

const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? undefined : Math.round((a / b) * 100) / 100;

function appendTargets(find: Find): readonly Target[] {
  const msgs = (system: Parameters<Find>[0], writers: number, size = 1024) =>
    find(system, writers, size)?.msgsPerSecond;
  const fdatasync4k = find("fdatasync-per-message", 1, 4096);
  const sequential = find("fdatasync-per-message", 1, 1024 * 1024);
  const spool1 = find("spool-file", 1);
  const blocking1 = find("spool-file-blocking-flush", 1);
  return [
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
    [
      "1 KiB ×16: Spool ÷ bare loop ≥ 0.8",
      ratio(msgs("spool-file", 16), msgs("bare-file", 16)),
      0.8,
    ],
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
      ratio(find("spool-file", 16, 64 * 1024)?.mibPerSecond, sequential?.mibPerSecond),
      0.8,
    ],
    [
      "1 writer: Spool p50 ÷ one 4 KiB fdatasync ≤ 1.3",
      ratio(spool1?.p50Ms, fdatasync4k?.p50Ms),
      1.3,
    ],
    ["1 writer: Spool p99 ÷ one 4 KiB fdatasync ≤ 2", ratio(spool1?.p99Ms, fdatasync4k?.p50Ms), 2],
    // The same, percentile for percentile: the disk's own p99 against Spool's.
    [
      "1 writer: Spool p99 ÷ one 4 KiB fdatasync's p99 ≤ 2",
      ratio(spool1?.p99Ms, fdatasync4k?.p99Ms),
      2,
    ],
    // Not the default: the file adapter's blockingFlushByteSizeMax (see the README).
    [
      "1 writer, blocking flushes (option): p50 ÷ one 4 KiB fdatasync ≤ 1.3",
      ratio(blocking1?.p50Ms, fdatasync4k?.p50Ms),
      1.3,
    ],
    [
      "1 writer, blocking flushes (option): p99 ÷ one 4 KiB fdatasync ≤ 2",
      ratio(blocking1?.p99Ms, fdatasync4k?.p50Ms),
      2,
    ],
  ];
}

/** Issue 20: the whole queue, writers in other threads and processes, the mmap adapter. */
function wholeQueueTargets(find: Find): readonly Target[] {
  const msgs = (system: Parameters<Find>[0], writers: number) =>
    find(system, writers)?.msgsPerSecond;
  // The best of `systems` at `producers`, undefined when none of them ran.
  const best = (systems: readonly Parameters<Find>[0][], producers: number) => {
    const known = systems
      .map((system) => msgs(system, producers))
      .filter((value): value is number => value !== undefined);
    return known.length === 0 ? undefined : Math.max(...known);
  };
  const spoolBest = (producers: number) => best(["spool-consume", "spool-take-ack"], producers);
  // `system` against Spool in-process with the file adapter, at `writers`.
  const againstFile = (
    label: string,
    system: Parameters<Find>[0],
    writers: number,
    bar: number,
  ): Target => [label, ratio(msgs(system, writers), msgs("spool-file", writers)), bar];
  return [
    ["256×64 end to end: Spool acked msgs/s ÷ 100,000 ≥ 1", ratio(spoolBest(256), 100_000), 1],
    [
      "256×64 end to end: Spool ÷ best peer ≥ 4",
      ratio(spoolBest(256), best(["sqlite-queue", "lmdb-queue"], 256)),
      4,
    ],
    ["1×1 end to end: Spool ÷ SQLite queue ≥ 2", ratio(spoolBest(1), msgs("sqlite-queue", 1)), 2],
    againstFile("256 writers: 8 worker threads ÷ in-process ≥ 0.8", "spool-threads-8", 256, 0.8),
    againstFile("16 writers: 8 worker threads ÷ in-process ≥ 0.5", "spool-threads-8", 16, 0.5),
    againstFile("256 writers: 4 processes ÷ in-process ≥ 0.6", "spool-processes-4", 256, 0.6),
    againstFile("16 writers: mmap + fdatasync ÷ file ≥ 0.8", "spool-mmap-fdatasync", 16, 0.8),
    againstFile("256 writers: mmap + fdatasync ÷ file ≥ 0.8", "spool-mmap-fdatasync", 256, 0.8),
  ];
}

/**
 * Issue 21: Spool on a JetStream stream keeps up with the same client used directly, each
 * writer awaiting its own append or publish, on one server and on a cluster of three.
 */
function jetStreamTargets(find: Find): readonly Target[] {
  const msgs = (system: Parameters<Find>[0]) => find(system, 256)?.msgsPerSecond;
  return [
    [
      "256 writers, 1 server (R1): Spool on JetStream ÷ direct client ≥ 1",
      ratio(msgs("spool-jetstream-r1"), msgs("jetstream-direct-r1")),
      1,
    ],
    [
      "256 writers, 3 servers (R3): Spool on JetStream ÷ direct client ≥ 1",
      ratio(msgs("spool-jetstream-r3"), msgs("jetstream-direct-r3")),
      1,
    ],
  ];
}

/**
 * The targets, and what the disk allows any design at 256 appenders: the best of the
 * disk-in-flight cases (256 records of 1,064 bytes in flight, nothing done per record) divided
 * by fdatasync per message. A target above it asks more of the disk than it gave with no
 * software in the way.
 *
 * @example
 * const { targets, ceiling } = targetsOf(find);
 */
export function targetsOf(find: Find) {
  const inFlight = (["disk-in-flight-1", "disk-in-flight-2", "disk-in-flight-4"] as const)
    .map((system) => find(system, 256))
    .filter((r): r is CaseResult => r !== undefined)
    .reduce<CaseResult | undefined>(
      (best, r) => (best === undefined || r.msgsPerSecond > best.msgsPerSecond ? r : best),
      undefined,
    );
  const perMessage = find("fdatasync-per-message", 256)?.msgsPerSecond;
  return {
    targets: [...appendTargets(find), ...wholeQueueTargets(find), ...jetStreamTargets(find)],
    inFlight,
    ceiling: ratio(inFlight?.msgsPerSecond, perMessage),
  };
}

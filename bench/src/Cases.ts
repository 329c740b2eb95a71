/**
 * The cases of a bench run, in the order they run: the disk's limits, the appenders at 1, 16
 * and 256 writers, 64 KiB, the disk alone with records in flight, threads and processes, the
 * other placement, the whole queue under back-pressure, and last the rows on JetStream, r1's
 * then r3's (each group runs on servers of its own, started before its first case).
 */
import {
  type CaseSpec,
  type EndToEndSystem,
  JETSTREAM_APPENDERS,
  jetStreamReplicas,
  type SystemName,
} from "./Measurement.js";
import { segmentByteSizeFor } from "./SegmentSize.js";

const MIB = 1024 * 1024;

/** The systems that append only, compared with Spool at every writer count. */
export const APPENDERS: readonly SystemName[] = [
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

/** The end-to-end systems compared at every shape: Spool's two ways, then the peers. */
export const END_TO_END_COMPARED = [
  "spool-consume",
  "spool-take-ack",
  "sqlite-queue",
  "lmdb-queue",
] as const satisfies readonly EndToEndSystem[];

/** The end-to-end rows on JetStream, one per stream's replicas. */
export const END_TO_END_JETSTREAM = [
  "spool-jetstream-consume-r1",
  "spool-jetstream-consume-r3",
] as const satisfies readonly EndToEndSystem[];

/**
 * How long a `--quick` JetStream case warms up and measures: CI runs them as a smoke test of
 * the rows (their figures mean nothing), so each loads the machine for half a second; with
 * its process's start (about 1.5 s of module loading and connecting), the six add about 15 s
 * to the run, and the two groups' servers about one more (0.1 s for one, 0.5 s for three).
 */
const QUICK_JETSTREAM_WARM_UP_MS = 250;
const QUICK_JETSTREAM_SECONDS = 0.25;

/** Producers × consumers: one of each, the 16-writer load, and the 256-writer load. */
export const END_TO_END_SHAPES = [
  [1, 1],
  [16, 16],
  [256, 64],
] as const;

export interface RunOptions {
  readonly quick: boolean;
  readonly dir: string;
}

/**
 * Every case of a run; `--quick` runs one writer count (16) and one shape (16×16) briefly,
 * so the smoke run takes about two minutes.
 *
 * @example
 * const cases = benchCases({ quick: true, dir: "/tmp/bench" });
 */
export function benchCases(options: RunOptions): CaseSpec[] {
  const { quick, dir } = options;
  const seconds = quick ? 0.5 : 4;
  const writerCounts = quick ? [16] : [1, 16, 256];
  const cases: CaseSpec[] = [];
  const add = (system: SystemName, writers: number, payloadByteSize = 1024, consumers = 0) => {
    const quickOnJetStream = quick && jetStreamReplicas(system) !== undefined;
    const caseSeconds = quickOnJetStream
      ? QUICK_JETSTREAM_SECONDS
      : payloadByteSize > 4096
        ? Math.min(seconds, 1.5)
        : seconds;
    const sizing = { system, writers, payloadByteSize, seconds: caseSeconds, quick };
    cases.push({
      system,
      writers,
      ...(consumers > 0 ? { consumers } : {}),
      payloadByteSize,
      seconds: caseSeconds,
      dir,
      segmentByteSize: segmentByteSizeFor(sizing),
      ...(quickOnJetStream ? { warmUpMs: QUICK_JETSTREAM_WARM_UP_MS } : {}),
    });
  };
  // The disk's limits: one 4 KiB fdatasync or msync, and sequential durable bandwidth in 1 MiB.
  for (const system of ["fdatasync-per-message", "msync-per-message"] as const) {
    add(system, 1, 4096);
    add(system, 1, MIB);
  }
  for (const writers of writerCounts) for (const system of APPENDERS) add(system, writers);
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
  // The disk alone with as many 1 KiB records in flight as the 256 appenders allow, in one,
  // two or four flushes: what any design whose appenders wait for durability can reach, at best.
  for (const flushers of [1, 2, 4] as const) {
    for (const writers of writerCounts.filter((count) => count >= 16)) {
      if (writers === 256 || quick) add(`disk-in-flight-${flushers}`, writers);
    }
  }
  // Writers in 8 worker threads (through spool.port(), in shared memory and as port messages),
  // beside the in-process rows above; and
  // from 4 processes over the spool's Unix socket. And the other placement: the spool in a
  // thread of its own, the writers in the main thread (beside spool-file and spool-mmap-msync).
  for (const writers of writerCounts.filter((count) => count >= 16)) {
    add("spool-threads-8", writers);
    add("spool-threads-8-messages", writers);
    add("spool-processes-4", writers);
  }
  for (const writers of writerCounts) {
    add("spool-in-thread-file", writers);
    add("spool-in-thread-mmap-msync", writers);
  }
  // Messages through the whole queue under back-pressure (EndToEnd.ts); and Spool's consume
  // with the data and index files' I/O taken one at a time (one synchronizer for both files).
  const shapes = quick ? END_TO_END_SHAPES.filter(([p]) => p === 16) : END_TO_END_SHAPES;
  for (const [producers, consumers] of shapes) {
    for (const system of END_TO_END_COMPARED) add(system, producers, 1024, consumers);
  }
  for (const [producers, consumers] of shapes.filter(([p]) => p > 1 && !quick)) {
    add("spool-consume-one-file-at-a-time", producers, 1024, consumers);
  }
  addJetStreamCases(add, { writerCounts: writerCounts.filter((count) => count >= 16), shapes });
  return cases;
}

/**
 * Spool on JetStream beside the client used directly, at 16 and 256 writers, and end to end at
 * every shape; r1's cases, then r3's, so that each group's servers run only for their cases.
 */
function addJetStreamCases(
  add: (system: SystemName, writers: number, payloadByteSize?: number, consumers?: number) => void,
  runs: {
    readonly writerCounts: readonly number[];
    readonly shapes: readonly (readonly [number, number])[];
  },
): void {
  for (const replicas of ["-r1", "-r3"] as const) {
    for (const writers of runs.writerCounts) {
      for (const system of JETSTREAM_APPENDERS.filter((name) => name.endsWith(replicas))) {
        add(system, writers);
      }
    }
    const consume = END_TO_END_JETSTREAM.find((name) => name.endsWith(replicas))!;
    for (const [producers, consumers] of runs.shapes) add(consume, producers, 1024, consumers);
  }
}

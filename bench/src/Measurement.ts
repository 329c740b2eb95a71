/**
 * What every case shares: its spec and result, the warm-up, the latency histogram, and the
 * summary of a measured window into a result row.
 */
import hdr from "hdr-histogram-js";

export type SystemName =
  | "spool-file"
  | "spool-file-blocking-flush"
  | "spool-mmap-fdatasync"
  | "spool-mmap-msync"
  | "bare-file"
  | "fdatasync-per-message"
  | "msync-per-message"
  | "lmdb"
  | "sqlite-tx-per-message"
  | "sqlite-tx-per-tick"
  | "level-sync-put"
  | "level-batch-per-tick"
  | "spool-threads-8"
  | "spool-threads-8-messages"
  | "spool-processes-4"
  | "spool-in-thread-file"
  | "spool-in-thread-mmap-msync"
  | "disk-in-flight-1"
  | "disk-in-flight-2"
  | "disk-in-flight-4"
  | JetStreamAppender
  | EndToEndSystem;

/**
 * The appenders on a NATS JetStream stream (JetStreamSystems.ts): Spool on the stream, and the
 * same client used directly, on one server (r1) and on a cluster of three (r3).
 */
export const JETSTREAM_APPENDERS = [
  "spool-jetstream-r1",
  "jetstream-direct-r1",
  "spool-jetstream-r3",
  "jetstream-direct-r3",
] as const;

export type JetStreamAppender = (typeof JETSTREAM_APPENDERS)[number];

/** The systems that run on JetStream, by the replicas of their stream. */
const REPLICAS: Partial<Record<SystemName, 1 | 3>> = {
  "spool-jetstream-r1": 1,
  "jetstream-direct-r1": 1,
  "spool-jetstream-consume-r1": 1,
  "spool-jetstream-r3": 3,
  "jetstream-direct-r3": 3,
  "spool-jetstream-consume-r3": 3,
};

/**
 * The replicas of the stream a JetStream system runs on (1 or 3), or undefined for a system
 * that does not run on JetStream.
 *
 * @example
 * jetStreamReplicas("jetstream-direct-r3") // 3
 */
export function jetStreamReplicas(system: SystemName): 1 | 3 | undefined {
  return REPLICAS[system];
}

/** The end-to-end systems: producers and consumers through the whole queue (EndToEnd.ts). */
export const END_TO_END_SYSTEMS = [
  "spool-consume",
  "spool-take-ack",
  "sqlite-queue",
  "lmdb-queue",
  "spool-consume-one-file-at-a-time",
  "spool-jetstream-consume-r1",
  "spool-jetstream-consume-r3",
] as const;

export type EndToEndSystem = (typeof END_TO_END_SYSTEMS)[number];

export const isEndToEnd = (system: string): system is EndToEndSystem =>
  (END_TO_END_SYSTEMS as readonly string[]).includes(system);

/**
 * Every case runs this long before it is measured, the same for every system: V8 spends about
 * the first second optimizing (some 440 TurboFan compilations for Spool on a 2-core machine, on
 * threads that compete with the one writing), and a quarter second of warm-up left those
 * compilations in the measured tail of whichever system had more code.
 */
export const WARM_UP_MS = 1000;

/**
 * A case's warm-up: {@link WARM_UP_MS}, but for `--quick`'s JetStream cases, which only show
 * that the rows run (their figures mean nothing) and must keep CI's smoke run short.
 *
 * @example
 * const warmUntil = performance.now() + warmUpMsOf(spec);
 */
export const warmUpMsOf = (spec: CaseSpec): number => spec.warmUpMs ?? WARM_UP_MS;

export interface CaseSpec {
  readonly system: SystemName;
  /** Concurrent appenders: the producers, in an end-to-end case. */
  readonly writers: number;
  /** An end-to-end case's consumers (none in the others). */
  readonly consumers?: number;
  readonly payloadByteSize: number;
  readonly seconds: number;
  readonly dir: string;
  /** Sized for the whole case at a generous rate bound (SegmentSize.ts), so it seldom rolls. */
  readonly segmentByteSize: number;
  /** The warm-up, when not {@link WARM_UP_MS} (see {@link warmUpMsOf}). */
  readonly warmUpMs?: number;
}

export interface CaseResult extends CaseSpec {
  readonly messages: number;
  readonly msgsPerSecond: number;
  readonly mibPerSecond: number;
  /** Durable commits, where the system tells (null where it does not: lmdb-js). */
  readonly flushes: number | null;
  readonly meanBatch: number | null;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly cpuSecondsPer100k: number;
  /** Share of the run the event loop was busy (warm-up included): the JavaScript thread's load. */
  readonly eventLoopUtilization: number;
  /** The latency distribution: [percentile, ms] pairs, for the CDF chart. */
  readonly cdf: readonly (readonly [number, number])[];
}

/** A case that failed: its row carries the error in place of figures, and the run goes on. */
export interface CaseFailure extends CaseSpec {
  readonly error: string;
}

/** What one case gave: figures, or the error that ended it. */
export type CaseOutcome = CaseResult | CaseFailure;

export const isFailure = (outcome: CaseOutcome): outcome is CaseFailure => "error" in outcome;

/** Microsecond latencies up to 10 s, three significant digits. */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 10_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

// Percentiles for the CDF: dense in the tail, where systems differ.
const CDF_PERCENTILES = [1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

export function summarize(
  spec: CaseSpec,
  messages: number,
  elapsedSeconds: number,
  flushes: number | null,
  histogram: hdr.Histogram,
  eventLoopUtilization: number,
  cpu: NodeJS.CpuUsage,
): CaseResult {
  const microsToMs = (value: number) => Math.round(value) / 1000;
  return {
    ...spec,
    messages,
    msgsPerSecond: Math.round(messages / elapsedSeconds),
    mibPerSecond:
      Math.round(((messages * spec.payloadByteSize) / elapsedSeconds / 1048576) * 10) / 10,
    flushes,
    meanBatch:
      flushes === null || flushes === 0 ? null : Math.round((messages / flushes) * 10) / 10,
    p50Ms: microsToMs(histogram.getValueAtPercentile(50)),
    p99Ms: microsToMs(histogram.getValueAtPercentile(99)),
    p999Ms: microsToMs(histogram.getValueAtPercentile(99.9)),
    eventLoopUtilization: Math.round(eventLoopUtilization * 100) / 100,
    cdf: CDF_PERCENTILES.map((p) => [p, microsToMs(histogram.getValueAtPercentile(p))] as const),
    cpuSecondsPer100k:
      Math.round(((cpu.user + cpu.system) / 1e6 / Math.max(1, messages)) * 100_000 * 100) / 100,
  };
}

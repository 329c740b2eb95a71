/**
 * The instruments a spool is measured with: their names, units, attribute keys and histogram
 * buckets, and their creation on a meter. Names follow OpenTelemetry's conventions (dotted,
 * lower case, no unit in the name, UCUM units); durations are in milliseconds, as the spool's
 * own reports (`BatchReport.writeMs`) and the rest of Spool count them.
 */
import type {
  Counter,
  Histogram,
  Meter,
  ObservableCounter,
  ObservableGauge,
} from "@opentelemetry/api";

/**
 * The instrumentation scope's name: the meter every instrument is made on.
 *
 * @example
 * meterProvider.getMeter(SPOOL_METER_NAME, SPOOL_METER_VERSION)
 */
export const SPOOL_METER_NAME = "@spool/otel";

/** The instrumentation scope's version: this package's (a test keeps them). @example "0.2.0" */
export const SPOOL_METER_VERSION = "0.2.0";

/**
 * Every instrument's name. `docs/telemetry.md` describes each; the names are the contract with
 * dashboards, so a rename is a breaking change.
 *
 * @example
 * metricNamed(collected, INSTRUMENT_NAMES.appendDuration)
 */
export const INSTRUMENT_NAMES = {
  appendDuration: "spool.append.duration",
  batchRecords: "spool.batch.records",
  batchSize: "spool.batch.size",
  flushes: "spool.flushes",
  flushDuration: "spool.flush.duration",
  messages: "spool.messages",
  queueDepth: "spool.queue.depth",
  leases: "spool.leases",
  acks: "spool.acks",
  nacks: "spool.nacks",
  leasesLost: "spool.leases.lost",
  leasesExpired: "spool.leases.expired",
  deadLetters: "spool.dead_letters",
} as const;

/**
 * The attribute keys the instruments set (beside the caller's own `attributes`). `error.type`
 * is OpenTelemetry's semantic convention for a failed operation's error class.
 *
 * @example
 * { [ATTRIBUTE_KEYS.flushReason]: "maxCount" }
 */
export const ATTRIBUTE_KEYS = {
  durability: "spool.durability",
  errorType: "error.type",
  flushReason: "spool.flush.reason",
  flushLevel: "spool.flush.level",
  messageState: "spool.message.state",
} as const;

/**
 * Bucket boundaries of the two duration histograms, in milliseconds. One writer's flushed
 * append measured p50 0.18 ms and p99 1.4 ms on the project's machine, 256 writers' tens of
 * milliseconds (`docs/performance.md`), so the buckets are fine below 1 ms and coarse above;
 * the last, 10 s, is a disk or a cluster that stopped answering.
 *
 * @example
 * DURATION_BUCKETS_MS.at(-1) // 10_000: 10 s
 */
export const DURATION_BUCKETS_MS: readonly number[] = [
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000,
];

/**
 * Records per batch: powers of two up to `batchCountMax`'s default, 4096.
 *
 * @example
 * BATCH_RECORD_BUCKETS.at(-1) // 4096
 */
export const BATCH_RECORD_BUCKETS: readonly number[] = Array.from(
  { length: 13 },
  (_, power) => 2 ** power,
);

/**
 * Bytes per batch: powers of four from 64 B to 16 MiB (`batchByteSizeMax` is 4 MiB by default).
 *
 * @example
 * BATCH_BYTE_BUCKETS.at(-1) // 16_777_216
 */
export const BATCH_BYTE_BUCKETS: readonly number[] = Array.from(
  { length: 10 },
  (_, power) => 64 * 4 ** power,
);

/** The instruments of one spool's telemetry. @example instruments.flushes.add(1, attributes) */
export interface SpoolInstruments {
  readonly appendDuration: Histogram;
  readonly batchRecords: Histogram;
  readonly batchSize: Histogram;
  readonly flushes: Counter;
  readonly flushDuration: Histogram;
  readonly messages: ObservableGauge;
  readonly queueDepth: ObservableGauge;
  readonly leases: ObservableCounter;
  readonly acks: ObservableCounter;
  readonly nacks: ObservableCounter;
  readonly leasesLost: ObservableCounter;
  readonly leasesExpired: ObservableCounter;
  readonly deadLetters: ObservableCounter;
}

/**
 * Makes the instruments on `meter`. A meter returns the same instrument for the same name, so
 * two spools measured on one meter share them, told apart by their `attributes`.
 *
 * @example
 * const instruments = createSpoolInstruments(meterProvider.getMeter(SPOOL_METER_NAME));
 */
export function createSpoolInstruments(meter: Meter): SpoolInstruments {
  const names = INSTRUMENT_NAMES;
  const counted = (name: string, unit: string, description: string) =>
    meter.createObservableCounter(name, { unit, description });
  return {
    appendDuration: meter.createHistogram(names.appendDuration, {
      unit: "ms",
      description: "From an append to its confirmation at the durability it asked for",
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_MS] },
    }),
    batchRecords: meter.createHistogram(names.batchRecords, {
      unit: "{record}",
      description: "Records per batch written and flushed (group commit)",
      advice: { explicitBucketBoundaries: [...BATCH_RECORD_BUCKETS] },
    }),
    batchSize: meter.createHistogram(names.batchSize, {
      unit: "By",
      description: "Bytes per batch written and flushed, record framing included",
      advice: { explicitBucketBoundaries: [...BATCH_BYTE_BUCKETS] },
    }),
    flushes: meter.createCounter(names.flushes, {
      unit: "{batch}",
      description: "Batches flushed, by the flush condition that closed them (claims 5-13)",
    }),
    flushDuration: meter.createHistogram(names.flushDuration, {
      unit: "ms",
      description: "From a batch's write being issued to its flush completing",
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_MS] },
    }),
    messages: meter.createObservableGauge(names.messages, {
      unit: "{message}",
      description: "Messages not done, by state (a spool directory only)",
    }),
    queueDepth: meter.createObservableGauge(names.queueDepth, {
      unit: "{message}",
      description: "Messages not done, dead letters excluded",
    }),
    leases: counted(names.leases, "{lease}", "Leases handed out to consumers"),
    acks: counted(names.acks, "{message}", "Acks made durable"),
    nacks: counted(names.nacks, "{message}", "Nacks made durable"),
    leasesLost: counted(
      names.leasesLost,
      "{lease}",
      "Consumer answers that came after their lease had passed to another",
    ),
    leasesExpired: counted(
      names.leasesExpired,
      "{lease}",
      "Leases that ran out before their consumer answered (a spool directory only)",
    ),
    deadLetters: counted(names.deadLetters, "{message}", "Messages made dead letters"),
  };
}

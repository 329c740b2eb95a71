/**
 * `instrumentSpool`: a spool's metrics on an OpenTelemetry meter. Three sources feed them, all
 * of which any store keeps (`SpoolApi`): its batch reports (`onBatch`: batch sizes, flush
 * reasons and times, recorded as each batch is flushed), its counters (`stats()`, read at each
 * collection by one batch callback), and its depth (`depth()`, awaited at each collection: a
 * stream asks its cluster). Append latency needs the appends themselves: measured writers.
 */
import {
  type Attributes,
  type BatchObservableCallback,
  type Meter,
  type MeterProvider,
  metrics,
  type ObservableCallback,
} from "@opentelemetry/api";
import type { BatchReport, SpoolApi, SpoolApiStats, SpoolStats } from "@spool/actors";
import { checkMethods, checkTelemetryOptions } from "./internal/Arguments.js";
import { type AppendingWriter, type MeasuredWriter, measureAppends } from "./MeasuredWriter.js";
import {
  ATTRIBUTE_KEYS,
  createSpoolInstruments,
  SPOOL_METER_NAME,
  SPOOL_METER_VERSION,
  type SpoolInstruments,
} from "./SpoolInstruments.js";

/**
 * What is measured of a spool: a `Spool` (a directory) or a `JetStreamSpool` (a stream), or
 * anything else with these members of `SpoolApi`.
 *
 * @example
 * const measured: MeasuredSpool = await openSpool({ dir: "./spool-data" });
 */
export type MeasuredSpool = Pick<SpoolApi, "writer" | "stats" | "depth" | "onBatch">;

/**
 * Options of {@link instrumentSpool}.
 *
 * @example
 * instrumentSpool(spool, { meterProvider, attributes: { "spool.name": "messages" } })
 */
export interface SpoolTelemetryOptions {
  /** The meter to make the instruments on. */
  readonly meter?: Meter;
  /**
   * The provider to get the meter `@spool/otel` from, when no `meter` is given; the global one
   * (`metrics.getMeterProvider()`, a no-op until an SDK registers one) when neither is.
   */
  readonly meterProvider?: MeterProvider;
  /** Set on every point, to tell spools apart: `{ "spool.name": "messages" }`, say. */
  readonly attributes?: Attributes;
}

/**
 * A spool's telemetry, running: its writers measured, and the means to stop it.
 *
 * @example
 * const telemetry = instrumentSpool(spool, { meterProvider });
 * await telemetry.writer("smsc-1").append("hello");
 * telemetry.dispose();
 */
export interface SpoolTelemetry {
  /**
   * A new writer of the spool (`spool.writer(name)`, and as it throws), its appends measured.
   */
  writer(name?: string): MeasuredWriter;
  /**
   * Measures the appends of a writer made elsewhere: one connected from another thread or
   * process, say. Throws `InvalidArgument` when it has no `append` and `close`.
   */
  measure(writer: AppendingWriter): MeasuredWriter;
  /**
   * Stops measuring: batch reports are no longer listened to, the counters and the depth no
   * longer observed, and measured writers append unmeasured. Idempotent. The instruments stay
   * on the meter (the OpenTelemetry API cannot remove one) with the last points they had.
   */
  dispose(): void;
}

/** The counters a directory keeps beside those every store keeps. */
type ObservedStats = SpoolApiStats & Partial<Pick<SpoolStats, "messages" | "leasesExpired">>;

/**
 * Measures `spool` on an OpenTelemetry meter: batches, flushes, the queue by state, leases,
 * acks, nacks and dead letters, and the appends of writers made through the handle. Only
 * `@opentelemetry/api` is used: with no SDK registered every instrument is a no-op. Throws
 * `InvalidArgument` when `spool` lacks a member it reads, or when the options are not an
 * object, give both `meter` and `meterProvider`, or carry attributes that are not primitives.
 *
 * @example
 * const telemetry = instrumentSpool(spool, { meterProvider, attributes: { "spool.name": "mms" } });
 * const writer = telemetry.writer("smsc-1");
 * await writer.append("hello"); // spool.append.duration gets one point
 */
export function instrumentSpool(
  spool: MeasuredSpool,
  options: SpoolTelemetryOptions = {},
): SpoolTelemetry {
  checkMethods(spool, "spool", ["writer", "stats", "depth", "onBatch"]);
  const checked = checkTelemetryOptions(options);
  const meter =
    checked.meter ??
    (checked.meterProvider ?? metrics.getMeterProvider()).getMeter(
      SPOOL_METER_NAME,
      SPOOL_METER_VERSION,
    );
  const { attributes } = checked;
  const instruments = createSpoolInstruments(meter);
  const observeStats = statsObserver(spool, instruments, attributes);
  const observed = [
    instruments.messages,
    instruments.leases,
    instruments.acks,
    instruments.nacks,
    instruments.leasesLost,
    instruments.leasesExpired,
    instruments.deadLetters,
  ];
  const observeDepth = depthObserver(spool, attributes);
  meter.addBatchObservableCallback(observeStats, observed);
  instruments.queueDepth.addCallback(observeDepth);
  const stopBatches = spool.onBatch(batchObserver(instruments, attributes));
  let disposed = false;
  const measure = {
    histogram: instruments.appendDuration,
    attributes,
    active: () => !disposed,
  };
  return {
    writer: (name?: string) => measureAppends(spool.writer(name), measure),
    measure(writer: AppendingWriter): MeasuredWriter {
      checkMethods(writer, "writer", ["append", "close"]);
      return measureAppends(writer, measure);
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      stopBatches();
      meter.removeBatchObservableCallback(observeStats, observed);
      instruments.queueDepth.removeCallback(observeDepth);
    },
  };
}

/**
 * The spool's attributes with `key` set to a value, one object per value, made on first use
 * and kept: a point allocates none (the values are few: flush reasons, levels, states).
 */
function attributeSets(attributes: Attributes, key: string): (value: string) => Attributes {
  const made = new Map<string, Attributes>();
  return (value) => {
    let set = made.get(value);
    if (set === undefined) {
      set = { ...attributes, [key]: value };
      made.set(value, set);
    }
    return set;
  };
}

/**
 * The listener of the spool's batch reports: one point per batch in each batch instrument.
 * Called before the batch's writers hear of it, so a confirmed append's batch is counted.
 */
function batchObserver(
  instruments: SpoolInstruments,
  attributes: Attributes,
): (report: BatchReport) => void {
  // One attributes object per reason and level, made once: a batch allocates none.
  const reasons = attributeSets(attributes, ATTRIBUTE_KEYS.flushReason);
  const levels = attributeSets(attributes, ATTRIBUTE_KEYS.flushLevel);
  return (report) => {
    const reason = reasons(report.reason);
    const level = levels(report.level);
    try {
      instruments.flushes.add(1, reason);
      instruments.batchRecords.record(report.records, reason);
      instruments.batchSize.record(report.byteSize, reason);
      instruments.flushDuration.record(report.writeMs, level);
    } catch {
      // A meter that throws would have the spool drop this listener; the batch goes unmeasured.
    }
  };
}

/** The batch callback reading `stats()` once per collection for every counter and the states. */
function statsObserver(
  spool: MeasuredSpool,
  instruments: SpoolInstruments,
  attributes: Attributes,
): BatchObservableCallback {
  const states = attributeSets(attributes, ATTRIBUTE_KEYS.messageState);
  return (result) => {
    const stats: ObservedStats = spool.stats();
    result.observe(instruments.leases, stats.leases, attributes);
    result.observe(instruments.acks, stats.acks, attributes);
    result.observe(instruments.nacks, stats.nacks, attributes);
    result.observe(instruments.leasesLost, stats.leasesLost, attributes);
    result.observe(instruments.deadLetters, stats.deadLettered, attributes);
    // A stream neither counts expired leases (its server redelivers) nor messages by state.
    if (stats.leasesExpired !== undefined) {
      result.observe(instruments.leasesExpired, stats.leasesExpired, attributes);
    }
    for (const [state, count] of Object.entries(stats.messages ?? {})) {
      result.observe(instruments.messages, count, states(state));
    }
  };
}

/** The callback observing `depth()`, awaited: a stream's is a request to its cluster. */
function depthObserver(spool: MeasuredSpool, attributes: Attributes): ObservableCallback {
  return async (result) => {
    let depth: number;
    try {
      depth = await spool.depth();
    } catch {
      // A stream whose cluster does not answer: no point this time; the collection goes on.
      return;
    }
    result.observe(depth, attributes);
  };
}

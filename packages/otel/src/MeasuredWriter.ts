/**
 * A writer whose appends are timed: each append's time from the call to its confirmation (or
 * its refusal) goes to `spool.append.duration`, with the durability it reached. The spool's
 * own writers know nothing of it: the measuring wraps a writer from outside, so a spool that
 * is not measured pays nothing.
 */
import type { Attributes, Histogram } from "@opentelemetry/api";
import type { AppendOptions, AppendResult } from "@spool/actors";
import type { Payload } from "@spool/core";
import { ATTRIBUTE_KEYS } from "./SpoolInstruments.js";

/**
 * What can be measured: a spool's writer (`spool.writer()`), or one connected from another
 * thread or process (`connectWriter`, `connectSocketWriter`).
 *
 * @example
 * const target: AppendingWriter = spool.writer("smsc-1");
 */
export interface AppendingWriter {
  append(payload: Payload, options?: AppendOptions): Promise<AppendResult>;
  close(): void;
}

/**
 * A writer whose appends are measured; otherwise the writer it wraps, unchanged: the same
 * results, the same typed rejections, the same `close`.
 *
 * @example
 * const writer = telemetry.writer("smsc-1");
 * const { seq } = await writer.append("hello");
 */
export interface MeasuredWriter extends AppendingWriter {
  /** The writer measured. */
  readonly writer: AppendingWriter;
}

/** The durabilities an append confirms with: the two of a directory, a log's replicated one. */
type ReachedDurability = AppendResult["durability"];

/** What a {@link measureAppends} writer records into, and whether it still records. */
export interface AppendMeasure {
  readonly histogram: Histogram;
  readonly attributes: Attributes;
  /** False once the telemetry was disposed: the writer still appends, measuring nothing. */
  readonly active: () => boolean;
}

/**
 * Wraps `writer`: its appends are timed (`performance.now()`, monotonic) and recorded with the
 * durability they reached, or, refused, with the durability they asked for and `error.type`
 * (the error's `_tag`, such as `SpoolFull`; `_OTHER` for an untagged one). Never throws, as
 * `append` never does.
 *
 * @example
 * const writer = measureAppends(spool.writer(), { histogram, attributes: {}, active: () => true });
 */
export function measureAppends(writer: AppendingWriter, measure: AppendMeasure): MeasuredWriter {
  const { histogram, active } = measure;
  // One attributes object per durability, made once: an append allocates none.
  const reached = new Map<ReachedDurability, Attributes>();
  const attributesOf = (durability: ReachedDurability): Attributes => {
    let attributes = reached.get(durability);
    if (attributes === undefined) {
      attributes = { ...measure.attributes, [ATTRIBUTE_KEYS.durability]: durability };
      reached.set(durability, attributes);
    }
    return attributes;
  };
  return {
    writer,
    append(payload: Payload, options?: AppendOptions): Promise<AppendResult> {
      if (!active()) return writer.append(payload, options);
      const startMs = performance.now();
      return writer.append(payload, options).then(
        (result) => {
          record(histogram, performance.now() - startMs, attributesOf(result.durability));
          return result;
        },
        (error: unknown) => {
          const attributes: Attributes = {
            ...measure.attributes,
            [ATTRIBUTE_KEYS.errorType]: errorType(error),
          };
          const asked = askedDurability(options);
          if (asked !== undefined) attributes[ATTRIBUTE_KEYS.durability] = asked;
          record(histogram, performance.now() - startMs, attributes);
          throw error;
        },
      );
    },
    close(): void {
      writer.close();
    },
  };
}

/**
 * Records one duration. A meter that throws (no SDK does; a broken one might) must not turn a
 * confirmed append into a rejected one: the measurement is lost instead.
 */
function record(histogram: Histogram, durationMs: number, attributes: Attributes): void {
  try {
    histogram.record(durationMs, attributes);
  } catch {
    // Telemetry is an observer: it never changes what the writer answers.
  }
}

/** A Spool error's tag (`SpoolFull`, `FlushFailed`, ...): a short, bounded set of values. */
function errorType(error: unknown): string {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tag = (error as { readonly _tag: unknown })._tag;
    if (typeof tag === "string") return tag;
  }
  // OpenTelemetry's fallback value for `error.type`: anything else is unbounded.
  return "_OTHER";
}

/**
 * The durability a refused append asked for, when it named a known one: options the writer
 * refused as invalid may hold anything, and a getter that throws must not throw here.
 */
function askedDurability(options: unknown): ReachedDurability | undefined {
  if (options === undefined) return "flushed";
  try {
    const durability = (options as { readonly durability?: unknown }).durability;
    if (durability === undefined) return "flushed";
    return durability === "flushed" || durability === "async" ? durability : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When to write the batch (claims 5-13, 35-43): a pure function of the batch, the time and the
 * configuration. Each trigger can be disabled with `null`. Precedence, first match wins:
 * closing, pageOffset, byteOffset, maxBytes, maxCount, contiguousRun, maxGatherTime,
 * sinceLastFlush, maxIdleTime.
 */
import { match } from "ts-pattern";
import type { Batch, Refusal } from "./Batch.js";
import type { SpoolConfig } from "./SpoolConfig.js";

/**
 * Why a batch was flushed; `close` is the drain on `spool.close()`.
 *
 * @example
 * const reason: FlushReason = "maxIdleTime";
 */
export type FlushReason =
  | "close"
  | "pageOffset"
  | "byteOffset"
  | "maxBytes"
  | "maxCount"
  | "contiguousRun"
  | "maxGatherTime"
  | "sinceLastFlush"
  | "maxIdleTime";

/** Every reason, in precedence order. @example FLUSH_REASONS.length === 9 */
export const FLUSH_REASONS: readonly FlushReason[] = [
  "close",
  "pageOffset",
  "byteOffset",
  "maxBytes",
  "maxCount",
  "contiguousRun",
  "maxGatherTime",
  "sinceLastFlush",
  "maxIdleTime",
];

/** What the policy looks at besides the config. @example { batch, refusal: null, lastFlushAtMs: 0, closing: false } */
export interface FlushInput {
  readonly batch: Batch;
  readonly refusal: Refusal | null;
  readonly lastFlushAtMs: number;
  readonly closing: boolean;
}

/**
 * The decision: flush now with a reason, or wait (claim 67 loops back to receive), waking after
 * `wakeInMs` when a timed trigger will fire then, or only on the next request when none will.
 *
 * @example
 * const decision = decideFlush(input, nowMs, config);
 */
export type FlushDecision =
  | { readonly flush: true; readonly reason: FlushReason }
  | { readonly flush: false; readonly wakeInMs: number | null };

type Verdict = { readonly fire: boolean; readonly wakeInMs: number | null };

const NEVER: Verdict = { fire: false, wakeInMs: null };
const NOW: Verdict = { fire: true, wakeInMs: null };

function timed(limitMs: number | null, sinceMs: number, nowMs: number): Verdict {
  if (limitMs === null) return NEVER;
  const elapsedMs = nowMs - sinceMs;
  return elapsedMs >= limitMs ? NOW : { fire: false, wakeInMs: limitMs - elapsedMs };
}

function atLeast(limit: number | null, value: number): Verdict {
  return limit !== null && value >= limit ? NOW : NEVER;
}

type VerdictOf = (input: FlushInput, nowMs: number, config: SpoolConfig) => Verdict;

/**
 * Each trigger's test, chosen per reason by an exhaustive ts-pattern match. The match runs once
 * per reason when the module loads, not per decision: a ts-pattern chain allocates a builder
 * per `.with`, and the policy runs for every batch.
 */
const VERDICTS = Object.fromEntries(
  FLUSH_REASONS.map((reason): [FlushReason, VerdictOf] => [
    reason,
    match(reason)
      .returnType<VerdictOf>()
      .with("close", () => (input) => (input.closing ? NOW : NEVER))
      .with("pageOffset", () => (input) => (input.refusal === "pageOffset" ? NOW : NEVER))
      .with("byteOffset", () => (input) => (input.refusal === "byteOffset" ? NOW : NEVER))
      // A write refused for the bound flushes the batch even below it: it cannot grow.
      .with(
        "maxBytes",
        () => (input, _, config) =>
          input.refusal === "maxBytes"
            ? NOW
            : atLeast(config.batchByteSizeMax, input.batch.byteSize),
      )
      .with(
        "maxCount",
        () => (input, _, config) =>
          input.refusal === "maxCount"
            ? NOW
            : atLeast(config.batchCountMax, input.batch.writes.length),
      )
      .with(
        "contiguousRun",
        () => (input, _, config) => atLeast(config.contiguousRunMin, input.batch.contiguousRun),
      )
      .with(
        "maxGatherTime",
        () => (input, nowMs, config) => timed(config.gatherTimeMsMax, input.batch.firstAtMs, nowMs),
      )
      .with(
        "sinceLastFlush",
        () => (input, nowMs, config) => timed(config.sinceLastFlushMs, input.lastFlushAtMs, nowMs),
      )
      .with(
        "maxIdleTime",
        () => (input, nowMs, config) => timed(config.idleTimeMsMax, input.batch.lastAtMs, nowMs),
      )
      .exhaustive(),
  ]),
) as Readonly<Record<FlushReason, VerdictOf>>;

/**
 * Decides whether to flush. An empty batch is never flushed.
 *
 * @example
 * decideFlush({ batch, refusal: null, lastFlushAtMs: 0, closing: false }, Date.now(), config)
 */
export function decideFlush(input: FlushInput, nowMs: number, config: SpoolConfig): FlushDecision {
  if (input.batch.writes.length === 0) return { flush: false, wakeInMs: null };
  let wakeInMs: number | null = null;
  for (const reason of FLUSH_REASONS) {
    const result = VERDICTS[reason](input, nowMs, config);
    if (result.fire) return { flush: true, reason };
    if (result.wakeInMs !== null) {
      wakeInMs = wakeInMs === null ? result.wakeInMs : Math.min(wakeInMs, result.wakeInMs);
    }
  }
  return { flush: false, wakeInMs };
}

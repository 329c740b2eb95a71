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

function verdict(
  reason: FlushReason,
  input: FlushInput,
  nowMs: number,
  config: SpoolConfig,
): Verdict {
  const { batch } = input;
  return match(reason)
    .with("close", () => (input.closing ? NOW : NEVER))
    .with("pageOffset", () => (input.refusal === "pageOffset" ? NOW : NEVER))
    .with("byteOffset", () => (input.refusal === "byteOffset" ? NOW : NEVER))
    .with("maxBytes", () => atLeast(config.batchByteSizeMax, batch.byteSize))
    .with("maxCount", () => atLeast(config.batchCountMax, batch.writes.length))
    .with("contiguousRun", () => atLeast(config.contiguousRunMin, batch.contiguousRun))
    .with("maxGatherTime", () => timed(config.gatherTimeMsMax, batch.firstAtMs, nowMs))
    .with("sinceLastFlush", () => timed(config.sinceLastFlushMs, input.lastFlushAtMs, nowMs))
    .with("maxIdleTime", () => timed(config.idleTimeMsMax, batch.lastAtMs, nowMs))
    .exhaustive();
}

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
    const result = verdict(reason, input, nowMs, config);
    if (result.fire) return { flush: true, reason };
    if (result.wakeInMs !== null) {
      wakeInMs = wakeInMs === null ? result.wakeInMs : Math.min(wakeInMs, result.wakeInMs);
    }
  }
  return { flush: false, wakeInMs };
}

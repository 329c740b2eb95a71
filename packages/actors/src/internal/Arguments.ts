/**
 * The checks on the public API's arguments (issue 17): every number is finite, in its range and
 * whole where it must be, and every options object is an object with known keys, else a typed
 * {@link InvalidArgument} naming the argument. Callers in promise-returning methods throw inside
 * their `async` body, so the promise rejects; synchronous methods throw.
 */
import {
  DURATION_MS_MAX,
  type Durability,
  describeValue,
  InvalidArgument,
  RecordTooLarge,
  type Seq,
  seq,
} from "@spool/core";

function invalid(argument: string, rule: string, value: unknown): InvalidArgument {
  return new InvalidArgument({
    argument,
    message: `${argument}: must be ${rule}, not ${describeValue(value)}`,
  });
}

/**
 * An options argument: `undefined` (no options) or a plain object whose keys are all in `keys`.
 * A misspelt key is refused, as `openSpool` refuses a misspelt option, so it cannot silently
 * fall back to its default. Returns a copy of the known keys' values, each read once, so a
 * getter cannot pass a check with one value and be used with another; an object that throws
 * when read (a revoked Proxy, a getter that throws) is refused, not thrown through.
 */
export function checkOptions<K extends string>(
  options: unknown,
  keys: readonly K[],
  argument = "options",
): { readonly [key in K]?: unknown } {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null) {
    throw invalid(argument, "an object", options);
  }
  let unknownKey: string | undefined;
  const copy: { [key in K]?: unknown } = {};
  try {
    if (Array.isArray(options)) throw invalid(argument, "an object", options);
    for (const key in options) {
      if (!(keys as readonly string[]).includes(key)) {
        unknownKey = key;
        break;
      }
    }
    for (const key of keys) copy[key] = (options as { [key in K]?: unknown })[key];
  } catch (error) {
    if (error instanceof InvalidArgument) throw error;
    throw invalid(argument, "an object that can be read", options);
  }
  if (unknownKey !== undefined) {
    const known = keys.join(", ");
    const message = `${argument}: unknown option ${JSON.stringify(unknownKey)} (known: ${known})`;
    throw new InvalidArgument({ argument: `${argument}.${unknownKey}`, message });
  }
  return copy;
}

/**
 * A durability level: `"flushed"` or `"async"`, `undefined` meaning `"flushed"`. Returned, not
 * thrown, so `append` (per record, on the hot path) rejects with it without a `try`.
 *
 * @example
 * checkDurability("async") // "async"
 * checkDurability("fsync") // InvalidArgument { argument: "durability" }
 */
export function checkDurability(value: unknown): Durability | InvalidArgument {
  if (value === undefined || value === "flushed") return "flushed";
  if (value === "async") return "async";
  return invalid("durability", '"flushed" or "async"', value);
}

/**
 * A payload's size against the record bound: the typed error when it is over, for a writer
 * handle's appends and a writer port's requests alike.
 *
 * @example
 * checkPayloadSize(new Uint8Array(2048), 1024) // RecordTooLarge { payloadByteSize: 2048 }
 */
export function checkPayloadSize(
  bytes: Uint8Array,
  payloadByteSizeMax: number,
): RecordTooLarge | undefined {
  if (bytes.byteLength <= payloadByteSizeMax) return undefined;
  return new RecordTooLarge({ payloadByteSize: bytes.byteLength, payloadByteSizeMax });
}

/**
 * The durability append's `options` ask for, or the typed error for options that are not
 * `AppendOptions` (not an object, an unknown key, or a `durability` other than the two levels).
 * No options, the common case, costs one comparison.
 *
 * @example
 * appendDurability({ durability: "async" }) // "async"
 * appendDurability({ durability: "fsync" }) // InvalidArgument { argument: "durability" }
 */
export function appendDurability(options: unknown): Durability | InvalidArgument {
  if (options === undefined) return "flushed";
  try {
    return checkDurability(checkOptions(options, ["durability"]).durability);
  } catch (error) {
    if (error instanceof InvalidArgument) return error;
    throw error;
  }
}

/** A callback: a function. */
export function checkFunction(value: unknown, argument: string): void {
  if (typeof value !== "function") throw invalid(argument, "a function", value);
}

/** A message's seq: a safe integer from 1 (seqs count up from 1). */
export function checkSeq(value: unknown, argument = "seq"): Seq {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(argument, "a whole number from 1 (a message's seq)", value);
  }
  return seq(value);
}

/** A count of things: a safe integer from 1. */
export function checkCount(value: unknown, argument: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(argument, "a whole number from 1", value);
  }
  return value;
}

/**
 * A duration in milliseconds: finite, from `minimumMs` to {@link DURATION_MS_MAX}. Fractions are
 * taken (a backoff computed as `200 * 1.5 ** attempt` is one); the index file keeps whole
 * milliseconds, so a deadline read back after a reopen may be up to 1 ms earlier.
 */
export function checkDurationMs(value: unknown, argument: string, minimumMs: 0 | 1): number {
  if (
    typeof value !== "number" ||
    !Number.isFinite(value) ||
    value < minimumMs ||
    value > DURATION_MS_MAX
  ) {
    throw invalid(
      argument,
      `a number of milliseconds from ${minimumMs} to ${DURATION_MS_MAX}`,
      value,
    );
  }
  return value;
}

/** `consume`'s options once checked; `undefined` where the caller gave none. */
export interface ConsumeSettings<L> {
  readonly concurrency: number | undefined;
  readonly leaseMs: number | undefined;
  readonly retryAfterMs: number | ((lease: L, error: unknown) => number) | undefined;
  readonly pollMs: number | undefined;
}

/**
 * `consume`'s handler and options. A `retryAfterMs` function's results are checked when each is
 * used, by `nack`. `pollMs` is a timer's delay, so from 1 ms (0 would poll in a busy loop).
 */
export function checkConsumeArguments<L>(handler: unknown, options: unknown): ConsumeSettings<L> {
  checkFunction(handler, "handler");
  const given = checkOptions(options, ["concurrency", "leaseMs", "retryAfterMs", "pollMs"]);
  const { concurrency, leaseMs, retryAfterMs, pollMs } = given;
  if (retryAfterMs !== undefined && typeof retryAfterMs !== "function") {
    checkDurationMs(retryAfterMs, "retryAfterMs", 0);
  }
  return {
    concurrency: concurrency === undefined ? undefined : checkCount(concurrency, "concurrency"),
    leaseMs: leaseMs === undefined ? undefined : checkDurationMs(leaseMs, "leaseMs", 1),
    retryAfterMs: retryAfterMs as ConsumeSettings<L>["retryAfterMs"],
    pollMs: pollMs === undefined ? undefined : checkDurationMs(pollMs, "pollMs", 1),
  };
}

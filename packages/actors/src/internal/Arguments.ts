/**
 * The checks on the public API's arguments (issue 17): every number is finite, in its range and
 * whole where it must be, and every options object is an object with known keys, else a typed
 * {@link InvalidArgument} naming the argument. Callers in promise-returning methods throw inside
 * their `async` body, so the promise rejects; synchronous methods throw.
 */
import { DURATION_MS_MAX, InvalidArgument, type Seq, seq } from "@spool/core";

/** A short, safe description of any value for an error message (never calls user code). */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case "number":
    case "boolean":
    case "bigint":
    case "undefined":
      return String(value);
    default:
      return `a ${typeof value}`;
  }
}

function invalid(argument: string, rule: string, value: unknown): InvalidArgument {
  return new InvalidArgument({
    argument,
    message: `${argument}: must be ${rule}, not ${describe(value)}`,
  });
}

/**
 * An options argument: `undefined` (no options) or a plain object whose keys are all in `keys`.
 * A misspelt key is refused, as `openSpool` refuses a misspelt option, so it cannot silently
 * fall back to its default.
 */
export function checkOptions<K extends string>(
  options: unknown,
  keys: readonly K[],
  argument = "options",
): { readonly [key in K]?: unknown } {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalid(argument, "an object", options);
  }
  for (const key in options) {
    if (!(keys as readonly string[]).includes(key)) {
      throw new InvalidArgument({
        argument: `${argument}.${key}`,
        message: `${argument}: unknown option ${JSON.stringify(key)} (known: ${keys.join(", ")})`,
      });
    }
  }
  return options as { readonly [key in K]?: unknown };
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
  if (typeof handler !== "function") throw invalid("handler", "a function", handler);
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

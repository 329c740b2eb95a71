/**
 * How long a delivery waits before its next attempt: exponential backoff with full jitter (each
 * delay drawn uniformly below the exponential ceiling, as in "Exponential Backoff And Jitter",
 * AWS Architecture Blog, 2015), so messages that failed together do not retry together; and a
 * recipient's `Retry-After` (RFC 9110 §10.2.3), honoured when it asks for longer.
 */

/** The schedule's shape. @example { backoffBaseMs: 500, backoffMaxMs: 300_000 } */
export interface BackoffOptions {
  /** The ceiling of the first retry's delay; each later ceiling is twice the one before. */
  readonly backoffBaseMs: number;
  /** The highest ceiling: no drawn delay is longer (a `Retry-After` may be). */
  readonly backoffMaxMs: number;
  /** A number in [0, 1): Math.random by default; tests pass a seeded one. */
  readonly random: () => number;
}

/**
 * The longest `Retry-After` honoured, 1 hour: a recipient asking for more is more likely wrong
 * (seconds mistaken for milliseconds) than down that long; the message's expiry bounds it anyway.
 */
export const RETRY_AFTER_MS_MAX = 60 * 60 * 1000;

/**
 * The exponent past which the ceiling no longer grows: 2^30 times any base is past every cap
 * that fits a timer (DURATION_MS_MAX), and keeps the power finite for attempt 65535.
 */
const DOUBLINGS_MAX = 30;

/**
 * The delay before the retry that follows failure number `failure` (1 after the first), drawn
 * uniformly in [0, ceiling) with ceiling = min(backoffMaxMs, backoffBaseMs × 2^(failure-1)),
 * rounded down to a whole millisecond; at least `retryAfterMs` when the recipient gave one.
 *
 * @example backoffMs({ backoffBaseMs: 100, backoffMaxMs: 1000, random: () => 0.5 }, 3) // 200
 */
export function backoffMs(options: BackoffOptions, failure: number, retryAfterMs?: number): number {
  if (!(Number.isInteger(failure) && failure >= 1)) throw new RangeError(`failure ${failure}`);
  const doublings = Math.min(failure - 1, DOUBLINGS_MAX);
  const ceilingMs = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** doublings);
  const drawn = options.random();
  if (!(drawn >= 0 && drawn < 1)) throw new RangeError(`random() gave ${drawn}`);
  const jitteredMs = Math.floor(drawn * ceilingMs);
  if (retryAfterMs === undefined) return jitteredMs;
  return Math.max(jitteredMs, Math.min(retryAfterMs, RETRY_AFTER_MS_MAX));
}

/**
 * A `Retry-After` header's wait in milliseconds (delay-seconds or an HTTP-date, RFC 9110
 * §10.2.3), or undefined when absent or malformed; a date in the past is 0.
 *
 * @example retryAfterMsOf("120", Date.now()) // 120000
 */
export function retryAfterMsOf(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const atMs = Date.parse(text);
  if (Number.isNaN(atMs) || !/[A-Za-z]/.test(text)) return undefined;
  return Math.max(0, atMs - nowMs);
}

/**
 * The longest delay a spool's nack takes (`DURATION_MS_MAX`, 2^31 - 1 ms, about 24.8 days: the
 * most one Node timer waits); a longer one would stop the consumer with InvalidArgument.
 */
const NACK_DELAY_MS_MAX = 2 ** 31 - 1;

/**
 * Attempts kept out of the spread, 2: a lease that runs out (a crash, a stopped handler) counts
 * an attempt without coming through here, and the last spread attempt must still find the
 * message expired rather than dead; two leave room for one such loss and the expiry's attempt.
 */
const LEASE_EXPIRIES_SPARE = 2;

/**
 * The delay a lease is nacked with: what the backoff (or the circuit) wants, never past the
 * expiry (`leftMs` from now; the attempt after it finds the message expired and fails it), and,
 * once more than half of `attemptsMax` are used (timings of milliseconds, as in tests, or a
 * long expiry), at least an even share of the time left among the attempts left, so the spool
 * never makes a dead letter of a message that has not expired.
 *
 * @example retryDelayMs({ wantedMs: 500, leftMs: 100, attempt: 3, attemptsMax: 65535 }) // 100
 */
export function retryDelayMs(schedule: {
  readonly wantedMs: number;
  readonly leftMs: number;
  readonly attempt: number;
  readonly attemptsMax: number;
}): number {
  const { wantedMs, leftMs, attempt, attemptsMax } = schedule;
  if (!(attempt >= 1 && attempt <= attemptsMax)) throw new RangeError(`attempt ${attempt}`);
  const attemptsLeft = attemptsMax - attempt;
  const spreadOver = Math.max(1, attemptsLeft - LEASE_EXPIRIES_SPARE);
  const floorMs = attempt > attemptsMax / 2 ? leftMs / spreadOver : 0;
  const delayMs = Math.ceil(Math.min(Math.max(wantedMs, floorMs), leftMs));
  return Math.min(NACK_DELAY_MS_MAX, Math.max(0, delayMs));
}

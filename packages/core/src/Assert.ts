/**
 * Assertions for programmer errors: a condition that cannot be false if Spool's code is right
 * (a batch in flight where the machine says one is, a lock released by its holder). A failed
 * assertion throws {@link InvariantViolation} and crashes what it runs in; the runtime turns
 * it into `SpoolFailed` as it does any fault. Operating failures (bad input, a corrupt file, an
 * I/O error) are the tagged errors of `SpoolError.ts` instead, never assertions (TigerStyle).
 */
import { Data } from "effect";
import { describeValue } from "./ValueDescription.js";

/**
 * A broken invariant: a bug in Spool, never an operating condition. Nothing a caller, a file
 * or the disk does can raise it, so it is not a `SpoolError` and no caller matches on it;
 * it says where the code is wrong.
 *
 * @example
 * new InvariantViolation({ message: "synchronizer: no batch in flight" })
 */
export class InvariantViolation extends Data.TaggedError("InvariantViolation")<{
  readonly message: string;
}> {}

/**
 * Throws {@link InvariantViolation} with `message` unless `condition` holds. Assert one thing
 * at a time: a compound condition hides which part broke.
 *
 * @example
 * assert(inFlight !== null, "synchronizer: no batch in flight");
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation({ message });
}

/**
 * Marks a branch the types prove unreachable (the `never` of an exhaustive `switch`); reached
 * at run time, it throws {@link InvariantViolation} naming `what` and the value.
 *
 * @example
 * switch (mode) {
 *   case "sync": return flushSync();
 *   case "async": return flushAsync();
 *   default: return assertNever(mode, "flush mode");
 * }
 */
export function assertNever(value: never, what: string): never {
  throw new InvariantViolation({ message: `${what}: unexpected ${describeValue(value)}` });
}

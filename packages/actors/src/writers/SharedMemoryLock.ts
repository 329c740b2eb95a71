/**
 * Claim 34's shared mutual-exclusion lock across worker threads: one 32-bit word in a
 * SharedArrayBuffer holds the owner (0 when free). Taking it is a compare-and-swap; a writer
 * that finds it held waits with `Atomics.waitAsync`, so no thread ever blocks its event loop.
 * The lock is held only from sending a request group to its receipt (microseconds), so it
 * does not queue waiters in order: whoever swaps first after a release takes it.
 *
 * A holder that dies holding the lock would stall every other writer: whoever sees it die can
 * free it with {@link SharedMemoryLock.releaseIfHeldBy}. (Spool's writers in other threads take
 * it themselves, and their endpoint in the spool's thread frees it when their port closes;
 * writers in other processes never hold it: their endpoint takes it for them.)
 */
import { InvariantViolation, type WriterId } from "@spool/core";
import type { SharedLock } from "./SharedLock.js";

/** Bytes a lock needs in a SharedArrayBuffer. @example new SharedArrayBuffer(SHARED_LOCK_BYTE_SIZE) */
export const SHARED_LOCK_BYTE_SIZE = 4;

const FREE = 0;
// Longer than any holder keeps the lock (send to receipt); only holds the event loop open.
const KEEP_ALIVE_MS = 2 ** 31 - 1;
const HOLDER = 0;

// Owners are stored plus one, so writer 0 (the spool's own thread) is not mistaken for "free".
const stored = (owner: WriterId) => owner + 1;

/**
 * A shared lock over `buffer` (at least {@link SHARED_LOCK_BYTE_SIZE} bytes, zeroed when new);
 * every thread makes its own over the same buffer.
 *
 * @example
 * const lock = new SharedMemoryLock(buffer);
 * lock.acquire(writerId, () => { send(); lock.release(writerId); });
 */
export class SharedMemoryLock implements SharedLock {
  readonly #word: Int32Array;
  /** The shared memory the lock lives in, to lend another thread. */
  readonly buffer: SharedArrayBuffer;

  constructor(buffer: SharedArrayBuffer) {
    if (buffer.byteLength < SHARED_LOCK_BYTE_SIZE) {
      throw new RangeError(`a shared lock needs ${SHARED_LOCK_BYTE_SIZE} bytes`);
    }
    this.buffer = buffer;
    this.#word = new Int32Array(buffer, 0, 1);
  }

  /** The writer holding the lock, if any. */
  get holder(): WriterId | null {
    const value = Atomics.load(this.#word, HOLDER);
    return value === FREE ? null : ((value - 1) as WriterId);
  }

  /** Calls `granted` once `owner` holds the lock: at once when it is free. */
  acquire(owner: WriterId, granted: () => void): void {
    const seen = Atomics.compareExchange(this.#word, HOLDER, FREE, stored(owner));
    if (seen === FREE) {
      granted();
      return;
    }
    if (seen === stored(owner))
      throw new InvariantViolation({ message: `writer ${owner} asked twice for the lock` });
    // Wait until the word changes from what was seen, then try again. A pending waitAsync does
    // not keep a thread's event loop alive, so a timer holds it open meanwhile (without it a
    // worker with nothing else to do exits while it waits).
    const wait = Atomics.waitAsync(this.#word, HOLDER, seen);
    const retry = () => this.acquire(owner, granted);
    if (!wait.async) {
      queueMicrotask(retry);
      return;
    }
    const keepAlive = setTimeout(() => {}, KEEP_ALIVE_MS);
    void wait.value.then(() => {
      clearTimeout(keepAlive);
      retry();
    });
  }

  /** Takes the lock for `owner` if it is free, at once. Returns whether it did. */
  tryAcquire(owner: WriterId): boolean {
    const seen = Atomics.compareExchange(this.#word, HOLDER, FREE, stored(owner));
    if (seen === stored(owner))
      throw new InvariantViolation({ message: `writer ${owner} asked twice for the lock` });
    return seen === FREE;
  }

  /** Releases the lock `owner` holds and wakes the waiters. */
  release(owner: WriterId): void {
    const seen = Atomics.compareExchange(this.#word, HOLDER, stored(owner), FREE);
    if (seen !== stored(owner)) {
      throw new InvariantViolation({ message: `writer ${owner} released a lock it does not hold` });
    }
    Atomics.notify(this.#word, HOLDER);
  }

  /**
   * Frees the lock if `owner` holds it: for a thread that died holding it. Returns whether it
   * did.
   */
  releaseIfHeldBy(owner: WriterId): boolean {
    const seen = Atomics.compareExchange(this.#word, HOLDER, stored(owner), FREE);
    if (seen !== stored(owner)) return false;
    Atomics.notify(this.#word, HOLDER);
    return true;
  }
}

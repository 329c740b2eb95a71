/**
 * The `consume` loop: runs a handler on messages as they become ready, a few at a time, and
 * answers each (ack when the handler resolves, nack when it throws) until stopped.
 */
import { NotLeased } from "@spool/core";
import { checkConsumeArguments } from "./internal/Arguments.js";
import type { Lease, SpoolQueue } from "./SpoolQueue.js";

/** A running `consume` loop. @example const consumer = spool.consume(handler); await consumer.stop() */
export interface Consumer {
  /**
   * Stops taking; resolves once the handlers in progress have finished and been answered, or
   * rejects with the error that stopped the loops (a failed ack, say) if one did.
   */
  stop(): Promise<void>;
}

/** Options of `Spool.consume`. @example { concurrency: 8, retryAfterMs: 5_000 } */
export interface ConsumeOptions {
  readonly concurrency?: number;
  readonly leaseMs?: number;
  /**
   * How long a message whose handler threw waits before it is retried: a number, or a
   * function of the lease (its `attempt`) and the error, for backoff; 0 by default.
   */
  readonly retryAfterMs?: number | ((lease: Lease, error: unknown) => number);
  /** How often an idle consumer looks for retries that came due; 50 ms by default. */
  readonly pollMs?: number;
}

/**
 * Starts a consume loop over `queue` (see `Spool.consume` for the rules); throws
 * `InvalidArgument` synchronously for a bad handler or options.
 *
 * @example
 * const consumer = startConsumer(queue, async ({ payload }) => deliver(payload), {});
 */
export function startConsumer(
  queue: SpoolQueue,
  handler: (lease: Lease) => Promise<void> | void,
  options: ConsumeOptions,
): Consumer {
  const settings = checkConsumeArguments<Lease>(handler, options);
  const concurrency = settings.concurrency ?? 1;
  const pollMs = settings.pollMs ?? 50;
  const takeOptions = settings.leaseMs === undefined ? {} : { leaseMs: settings.leaseMs };
  let stopped = false;
  let wakeUp: (() => void) | undefined;
  const failures: unknown[] = [];
  const running = new Set<Promise<void>>();
  // Waits for a message to become ready, a handler to finish, the poll, or stop.
  const pause = () =>
    new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        wakeUp = undefined;
        queue.unwait(wake);
        resolve();
      };
      const timer = setTimeout(wake, pollMs);
      wakeUp = wake;
      queue.waitForReady(wake);
    });
  const answer = async (lease: Lease): Promise<void> => {
    let failure: { error: unknown } | undefined;
    try {
      await handler(lease);
    } catch (error) {
      failure = { error };
    }
    try {
      if (failure === undefined) {
        await queue.ack(lease.seq);
        return;
      }
      const { retryAfterMs = 0 } = settings;
      const delayMs =
        typeof retryAfterMs === "number" ? retryAfterMs : retryAfterMs(lease, failure.error);
      // A function's result is checked by nack: a bad one stops the loop with InvalidArgument.
      await queue.nack(lease.seq, { retryAfterMs: delayMs });
    } catch (error) {
      // The handler outlived its lease and another took the message (at-least-once): this
      // answer no longer counts, and the loop goes on.
      if (!(error instanceof NotLeased)) throw error;
      queue.leaseLost();
    }
  };
  const fail = (error: unknown): void => {
    // Closing the spool ends the loop; any other failure stops it and is reported.
    if (!queue.closing()) failures.push(error);
    stopped = true;
    wakeUp?.();
  };
  const pump = async (): Promise<void> => {
    while (!stopped && !queue.closing()) {
      const free = concurrency - running.size;
      // One take for every free handler: their leases share one index flush.
      const leases = free > 0 ? await queue.takeMany(free, takeOptions) : [];
      if (leases.length === 0) {
        await pause();
        continue;
      }
      for (const lease of leases) {
        const run: Promise<void> = answer(lease)
          .catch(fail)
          .finally(() => {
            running.delete(run);
            wakeUp?.();
          });
        running.add(run);
      }
    }
  };
  const loop = pump().catch(fail);
  return {
    stop: async () => {
      stopped = true;
      wakeUp?.();
      await loop;
      await Promise.all(running);
      if (failures.length > 0) throw failures[0];
    },
  };
}

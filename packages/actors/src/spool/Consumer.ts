/**
 * The `consume` loop: runs a handler on messages as they become ready, a few at a time, and
 * answers each (ack when the handler resolves, nack when it throws) until stopped.
 *
 * A handler's slot is free once the handler has finished and its answer is made, before the
 * answer is durable: the next message's handler runs while the answer waits for the index's
 * flush, as long as fewer than {@link ANSWERS_IN_FLIGHT_PER_HANDLER} answers per handler wait.
 */
import { NotLeased } from "@spool/core";
import { checkConsumeArguments } from "../internal/Arguments.js";
import type { Lease } from "./SpoolQueue.js";

/**
 * What a consume loop takes messages from and answers them to: the spool's queue, or a store's
 * of its own (`@spool/jetstream`'s durable consumer).
 */
export interface ConsumerSource {
  takeMany(count: number, options: { readonly leaseMs?: number }): Promise<Lease[]>;
  ack(messageSeq: number): Promise<void>;
  nack(messageSeq: number, options: { readonly retryAfterMs?: number }): Promise<void>;
  /** Calls `wake` once when a message may be ready (a store that cannot tell never calls it). */
  waitForReady(wake: () => void): void;
  unwait(wake: () => void): void;
  /** Whether the store is closing: the loop then ends without an error. */
  closing(): boolean;
  /** An answer came after the lease was lost (counted for `stats().leasesLost`). */
  leaseLost(): void;
}

/**
 * Answers (acks and nacks) per handler that may wait for their index flush while the handlers
 * go on: a flush takes a fraction of a millisecond, a handler's next message less, so a few per
 * handler keep the handlers busy without an unbounded number of answers waiting.
 */
export const ANSWERS_IN_FLIGHT_PER_HANDLER = 4;

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
  queue: ConsumerSource,
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
  /** Handlers running. */
  const running = new Set<Promise<void>>();
  /** Answers made and not yet durable. */
  const answering = new Set<Promise<void>>();
  const answersMax = concurrency * ANSWERS_IN_FLIGHT_PER_HANDLER;
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
  const fail = (error: unknown): void => {
    // Closing the spool ends the loop; any other failure stops it and is reported.
    if (!queue.closing()) failures.push(error);
    stopped = true;
    wakeUp?.();
  };
  /** Adds `work` to `set` until it settles; a failure stops the loop. */
  const track = (set: Set<Promise<void>>, work: Promise<void>): void => {
    const tracked: Promise<void> = work.catch(fail).finally(() => {
      set.delete(tracked);
      wakeUp?.();
    });
    set.add(tracked);
  };
  /** Acks or nacks `lease` by the handler's outcome; resolves once the answer is durable. */
  const answer = async (lease: Lease, failure: { error: unknown } | undefined): Promise<void> => {
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
  /** Runs the handler on `lease`, then makes its answer and frees the handler's slot. */
  const handle = async (lease: Lease): Promise<void> => {
    let failure: { error: unknown } | undefined;
    try {
      await handler(lease);
    } catch (error) {
      failure = { error };
    }
    track(answering, answer(lease, failure));
  };
  const pump = async (): Promise<void> => {
    while (!stopped && !queue.closing()) {
      const free = answering.size < answersMax ? concurrency - running.size : 0;
      // One take for every free handler: their leases share one index flush.
      const leases = free > 0 ? await queue.takeMany(free, takeOptions) : [];
      if (leases.length === 0) {
        await pause();
        continue;
      }
      for (const lease of leases) track(running, handle(lease));
    }
  };
  const loop = pump().catch(fail);
  return {
    stop: async () => {
      stopped = true;
      wakeUp?.();
      await loop;
      await Promise.all(running);
      // The last handlers' answers were made as they finished: wait until they are durable.
      await Promise.all(answering);
      if (failures.length > 0) throw failures[0];
    },
  };
}

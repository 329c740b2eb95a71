/**
 * Helpers of the Effect API's tests: the service over a fresh in-memory spool, and a store that
 * watches the leases a consumer holds.
 */
import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { Effect } from "effect";
import { type Spool, type SpoolApi, SpoolEffect } from "../src/index.js";

export const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs `program` with the service over a fresh in-memory spool directory. */
export function runWith<A, E>(
  program: Effect.Effect<A, E, SpoolEffect.Spool>,
  options: Partial<Parameters<typeof SpoolEffect.layer>[0]> = {},
  disk = new MemoryDisk(),
): Promise<A> {
  const layer = SpoolEffect.layer({ dir: "effect", adapter: memoryAdapter(disk), ...options });
  return Effect.runPromise(Effect.provide(program, layer));
}

/** Appends each of `messages` through the service, in order. */
export const appendAll = (messages: readonly string[]) =>
  Effect.gen(function* () {
    const spool = yield* SpoolEffect.Spool;
    return yield* Effect.forEach(messages, (message) => spool.append(message));
  });

/**
 * `spool` as a plain `SpoolApi` that counts the leases it handed out and has not had answered,
 * records every take that asked for more than `bound` allows (or for none), and tells
 * `onAnswer` of each ack and nack once durable.
 */
export function watched(spool: Spool, bound = 3) {
  const watch = {
    leased: 0,
    unanswered: 0,
    unansweredMax: 0,
    overBound: [] as number[],
    acked: [] as number[],
    onAnswer: (): void => {},
  };
  const answered = (seq: number, acked: boolean) => () => {
    watch.unanswered -= 1;
    if (acked) watch.acked.push(seq);
    watch.onAnswer();
  };
  const store: SpoolApi = {
    dir: spool.dir,
    config: spool.config,
    synchronizer: spool.synchronizer,
    writer: (name) => spool.writer(name),
    records: (options) => spool.records(options),
    take: (options) => spool.take(options),
    takeMany: async (count, options) => {
      if (count < 1 || watch.unanswered + count > bound) {
        watch.overBound.push(watch.unanswered + count);
      }
      const leases = await spool.takeMany(count, options);
      watch.leased += leases.length;
      watch.unanswered += leases.length;
      watch.unansweredMax = Math.max(watch.unansweredMax, watch.unanswered);
      return leases;
    },
    ack: (seq) => spool.ack(seq).then(answered(seq, true)),
    nack: (seq, options) => spool.nack(seq, options).then(answered(seq, false)),
    consume: (handler, options) => spool.consume(handler, options),
    deadLetters: () => spool.deadLetters(),
    purgeDeadLetter: (seq) => spool.purgeDeadLetter(seq),
    depth: () => spool.depth(),
    messageState: (seq) => spool.messageState(seq),
    stats: () => spool.stats(),
    onBatch: (listener) => spool.onBatch(listener),
    recentBatches: () => spool.recentBatches(),
    onFailure: (listener) => spool.onFailure(listener),
    close: () => spool.close(),
  };
  return { store, watch };
}

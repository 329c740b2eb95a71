/**
 * The Effect API's spool: a service whose every operation is an Effect with its own closed
 * union of operating errors in the error channel (programmer errors stay defects), provided by
 * a scoped layer that opens a spool directory and closes it with the scope, or built around any
 * store that keeps `SpoolApi` (a directory, a JetStream stream) that the caller owns.
 */
import {
  type AppendError,
  describeValue,
  InvalidArgument,
  type OpenError,
  type Payload,
  type SpoolConfig,
} from "@spool/core";
import { Context, Effect, type Fiber, Layer, Option, type Scope, Stream } from "effect";
import type { OpenSpoolOptions } from "../spool/Recovery.js";
import { openSpool } from "../spool/Spool.js";
import type { SpoolApi, SpoolApiStats, StoredRecord } from "../spool/SpoolApi.js";
import type { DeadLetter, Lease, MessageState } from "../spool/SpoolQueue.js";
import type { AppendOptions, AppendResult, Writer } from "../writers/Writer.js";
import {
  type ConsumerError,
  type ConsumerOptions,
  type Delivery,
  type DeliveryOptions,
  type DeliverySource,
  deliveries,
  forkConsumerOn,
} from "./Deliveries.js";
import {
  type AckError,
  attempt,
  type DeadLettersError,
  type DepthError,
  EXPECTED,
  failOrDie,
  type MessageStateError,
  type NackError,
  type PurgeDeadLetterError,
  type RecordsError,
  type TakeError,
  type WriterError,
} from "./OperationErrors.js";

/**
 * A writer of the Effect API: its appends fail with the typed {@link AppendError}.
 *
 * @example
 * const writer = yield* spool.writer("smsc-1");
 * const { seq } = yield* writer.append("hello");
 */
export interface SpoolWriter {
  /** Its name, as stats and logs show it. */
  readonly name: string;
  readonly append: (
    payload: Payload,
    options?: AppendOptions,
  ) => Effect.Effect<AppendResult, AppendError>;
}

/**
 * A spool's operations as Effects. Each fails with the operating errors it can meet, named per
 * operation (`TakeError`, `AckError`, ...); anything else a store throws is a defect.
 *
 * @example
 * const spool = yield* SpoolEffect.Spool;
 * const lease = yield* spool.take();
 * if (Option.isSome(lease)) yield* spool.ack(lease.value.seq);
 */
export interface SpoolService {
  /** Where it is: the directory, or the servers and the stream. */
  readonly dir: string;
  /** The configuration in force (`maxAttempts`, `leaseMs`, ...). */
  readonly config: SpoolConfig;
  /** Appends through the service's own writer (made at its first append). */
  readonly append: (
    payload: Payload,
    options?: AppendOptions,
  ) => Effect.Effect<AppendResult, AppendError>;
  /** A writer named for stats and logs, closed (it takes no more appends) with the scope. */
  readonly writer: (name?: string) => Effect.Effect<SpoolWriter, WriterError, Scope.Scope>;
  /** The durable records in seq order from `from` on, read as the stream is pulled. */
  readonly records: (options?: {
    readonly from?: number;
  }) => Stream.Stream<StoredRecord, RecordsError>;
  /** Leases the oldest ready message, or none is ready. */
  readonly take: (options?: {
    readonly leaseMs?: number;
  }) => Effect.Effect<Option.Option<Lease>, TakeError>;
  /** Leases up to `count` ready messages at once (one index flush for their leases). */
  readonly takeMany: (
    count: number,
    options?: { readonly leaseMs?: number },
  ) => Effect.Effect<readonly Lease[], TakeError>;
  /** Acknowledges a leased message; completes once durable. */
  readonly ack: (messageSeq: number) => Effect.Effect<void, AckError>;
  /** Gives a leased message back, or dead-letters it when its attempts are used up. */
  readonly nack: (
    messageSeq: number,
    options?: { readonly retryAfterMs?: number },
  ) => Effect.Effect<void, NackError>;
  /** The dead letters, in seq order. */
  readonly deadLetters: Effect.Effect<readonly DeadLetter[], DeadLettersError>;
  /** Marks a dead letter done, so its segment can be reclaimed. */
  readonly purgeDeadLetter: (messageSeq: number) => Effect.Effect<void, PurgeDeadLetterError>;
  /** Messages not yet done, dead letters excluded. */
  readonly depth: Effect.Effect<number, DepthError>;
  /** What became of a message. */
  readonly messageState: (messageSeq: number) => Effect.Effect<MessageState, MessageStateError>;
  /** The counters every store keeps. */
  readonly stats: Effect.Effect<SpoolApiStats>;
  /**
   * Deliveries as the stream is pulled, each answered by the consumer (`delivery.ack`,
   * `delivery.nack`); no more leases while `inFlightMax` (1 by default) are unanswered.
   */
  readonly consume: (options?: DeliveryOptions) => Stream.Stream<Delivery, TakeError>;
}

/**
 * The spool service's key: `yield* Spool` in a program, `layer(options)` or
 * `layerFromStore(store)` to provide it.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const spool = yield* SpoolEffect.Spool;
 *   return yield* spool.append("hello");
 * });
 * Effect.runPromise(program.pipe(Effect.provide(SpoolEffect.layer({ dir: "./spool-data" }))));
 */
export class Spool extends Context.Service<Spool, SpoolService>()("@spool/actors/Spool") {}

/** The methods a store must have to be wrapped, checked by {@link fromStore}. */
const STORE_METHODS = [
  "writer",
  "records",
  "take",
  "takeMany",
  "ack",
  "nack",
  "deadLetters",
  "purgeDeadLetter",
  "depth",
  "messageState",
  "stats",
  "onBatch",
] as const satisfies readonly (keyof SpoolApi)[];

/**
 * The service over `store`, which the caller keeps and closes. Fails with `InvalidArgument`
 * when `store` is not a `SpoolApi` (an object with its methods).
 *
 * @example
 * const spool = yield* SpoolEffect.fromStore(await openJetStreamSpool(options));
 */
export function fromStore(store: SpoolApi): Effect.Effect<SpoolService, InvalidArgument> {
  return Effect.suspend(() => {
    const missing = missingMethod(store);
    return missing === undefined ? Effect.succeed(serviceOf(store)) : Effect.fail(missing);
  });
}

/** Why `store` is not a `SpoolApi`, or undefined when it has every method used. */
function missingMethod(store: unknown): InvalidArgument | undefined {
  const invalid = (message: string) => new InvalidArgument({ argument: "store", message });
  if (typeof store !== "object" || store === null) {
    return invalid(`store: must be a SpoolApi, not ${describeValue(store)}`);
  }
  const methods = store as { readonly [method: string]: unknown };
  const method = STORE_METHODS.find((name) => typeof methods[name] !== "function");
  return method === undefined ? undefined : invalid(`store: must be a SpoolApi, no ${method}()`);
}

/** The Effect face of `store`: each method a call of its Promise API, errors sorted. */
function serviceOf(store: SpoolApi): SpoolService {
  let ownWriter: Writer | undefined;
  return {
    dir: store.dir,
    config: store.config,
    append: (payload, options) =>
      attempt(EXPECTED.append, () => {
        ownWriter ??= store.writer();
        return ownWriter.append(payload, options);
      }),
    writer: (name) =>
      Effect.acquireRelease(
        attempt(EXPECTED.writer, () => store.writer(name)),
        (writer) => Effect.sync(() => writer.close()),
      ).pipe(Effect.map(effectWriter)),
    records: (options) =>
      Stream.fromAsyncIterable(
        { [Symbol.asyncIterator]: () => store.records(options) },
        (cause) => cause,
      ).pipe(Stream.catch((cause) => Stream.fromEffect(failOrDie(EXPECTED.records)(cause)))),
    take: (options) =>
      attempt(EXPECTED.take, () => store.take(options)).pipe(Effect.map(Option.fromUndefinedOr)),
    takeMany: (count, options) => attempt(EXPECTED.take, () => store.takeMany(count, options)),
    ack: (messageSeq) => attempt(EXPECTED.answer, () => store.ack(messageSeq)),
    nack: (messageSeq, options) => attempt(EXPECTED.answer, () => store.nack(messageSeq, options)),
    deadLetters: attempt(EXPECTED.deadLetters, () => store.deadLetters()),
    purgeDeadLetter: (messageSeq) =>
      attempt(EXPECTED.answer, () => store.purgeDeadLetter(messageSeq)),
    depth: attempt(EXPECTED.depth, () => store.depth()),
    messageState: (messageSeq) =>
      attempt(EXPECTED.messageState, () => store.messageState(messageSeq)),
    stats: Effect.sync(() => store.stats()),
    consume: (options) => deliveries(deliverySource(store), options),
  };
}

function effectWriter(writer: Writer): SpoolWriter {
  return {
    name: writer.name,
    append: (payload, options) => attempt(EXPECTED.append, () => writer.append(payload, options)),
  };
}

/** What the delivery stream of `store` takes from and answers to. */
function deliverySource(store: SpoolApi): DeliverySource {
  return {
    takeMany: (count, options) => attempt(EXPECTED.take, () => store.takeMany(count, options)),
    ack: (messageSeq) => attempt(EXPECTED.answer, () => store.ack(messageSeq)),
    nack: (messageSeq, options) => attempt(EXPECTED.answer, () => store.nack(messageSeq, options)),
    onBatch: (listener) => store.onBatch(() => listener()),
  };
}

/**
 * Opens a spool directory for the life of the current scope: the service's layer is built by
 * it and the directory closed (drained, flushed, confirmed) when the layer's scope closes.
 *
 * @example
 * const SpoolLive = SpoolEffect.layer({ dir: "./spool-data" });
 */
export function layer(options: OpenSpoolOptions): Layer.Layer<Spool, OpenError> {
  return Layer.effect(
    Spool,
    Effect.acquireRelease(
      attempt(EXPECTED.open, () => openSpool(options)),
      (spool) => Effect.promise(() => spool.close()),
    ).pipe(Effect.map(serviceOf)),
  );
}

/**
 * The service over a store the caller opened and will close (a JetStream stream, a spool
 * directory shared with Promise code). Fails with `InvalidArgument` when `store` is not one.
 *
 * @example
 * const SpoolLive = SpoolEffect.layerFromStore(await openJetStreamSpool(options));
 */
export function layerFromStore(store: SpoolApi): Layer.Layer<Spool, InvalidArgument> {
  return Layer.effect(Spool, fromStore(store));
}

/**
 * Runs `handler` on each message as it becomes ready, `concurrency` at a time (1 by default),
 * in a fiber of the current scope: a handler that succeeds acks its message, one that fails
 * nacks it (delivered again after `retryAfterMs`, or a dead letter once its attempts are used
 * up). An answer that finds the lease gone to another consumer (`NotLeased`) is let go; any
 * other failure of a take or an answer ends the fiber with it, as does a handler's defect.
 * Closing the scope interrupts the fiber and its running handlers: their messages are
 * delivered again once their leases run out (at-least-once). Fails with `InvalidArgument` for
 * a `handler` that is not a function or bad options.
 *
 * @example
 * yield* SpoolEffect.forkConsumer((lease) => deliver(lease.payload), { concurrency: 4 });
 */
export function forkConsumer<E, R>(
  handler: (lease: Lease) => Effect.Effect<void, E, R>,
  options?: ConsumerOptions<E>,
): Effect.Effect<Fiber.Fiber<void, ConsumerError>, InvalidArgument, Spool | R | Scope.Scope> {
  return Effect.gen(function* () {
    const spool = yield* Spool;
    return yield* forkConsumerOn(spool.consume, handler, options);
  });
}

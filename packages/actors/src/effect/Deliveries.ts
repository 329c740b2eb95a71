/**
 * Consuming with Effect: a stream of deliveries the consumer answers itself, with
 * back-pressure (the stream leases no more while `inFlightMax` deliveries are unanswered), and
 * a consumer fiber that runs a handler on each, acking on success and nacking on failure.
 */
import type { InvalidArgument, NotLeased } from "@spool/core";
import { Effect, type Fiber, Latch, type Scope, Stream } from "effect";
import { checkCount, checkDurationMs, checkFunction, checkOptions } from "../internal/Arguments.js";
import type { Lease } from "../spool/SpoolQueue.js";
import {
  type AckError,
  Expected,
  failOrDie,
  type NackError,
  type TakeError,
} from "./OperationErrors.js";

/**
 * How often a stream with nothing to deliver looks again when no batch woke it: a nacked
 * message's retry or an expired lease makes a message ready without a batch. The Promise
 * consumer's `pollMs` default, for the same reason.
 */
export const DELIVERY_POLL_MS = 50;

/**
 * A leased message and its answers. The first answer to complete (succeeded or failed) frees
 * the delivery's place among the `inFlightMax`; a later one is made but frees nothing.
 *
 * @example
 * yield* Stream.runForEach(spool.consume(), (delivery) => delivery.ack);
 */
export interface Delivery extends Lease {
  /** Acknowledges the message: it is done. Completes once that is durable. */
  readonly ack: Effect.Effect<void, AckError>;
  /** Gives the message back, to be delivered again after `retryAfterMs` (0 by default). */
  readonly nack: (options?: { readonly retryAfterMs?: number }) => Effect.Effect<void, NackError>;
}

/** Options of the `consume` stream. @example spool.consume({ inFlightMax: 8, leaseMs: 10_000 }) */
export interface DeliveryOptions {
  /** Each lease's length; the spool's `leaseMs` by default. */
  readonly leaseMs?: number;
  /**
   * Deliveries handed out and not yet answered, at most; 1 by default. A lease runs while its
   * delivery waits downstream, so a larger bound suits a consumer that handles that many at
   * once, not one that handles them in turn.
   */
  readonly inFlightMax?: number;
  /** How often an idle stream looks for retries come due; {@link DELIVERY_POLL_MS} by default. */
  readonly pollMs?: number;
}

/** Options of `forkConsumer`. @example { concurrency: 4, retryAfterMs: (lease) => 100 * lease.attempt } */
export interface ConsumerOptions<E> {
  /** Handlers running at once (each holds one lease); 1 by default. */
  readonly concurrency?: number;
  readonly leaseMs?: number;
  readonly pollMs?: number;
  /**
   * How long a message whose handler failed waits before it is delivered again: a number, or a
   * function of the lease (its `attempt`) and the handler's error, for backoff; 0 by default.
   */
  readonly retryAfterMs?: number | ((lease: Lease, error: E) => number);
}

/** What a delivery stream takes from and answers to: a spool service's operations. */
export interface DeliverySource {
  readonly takeMany: (
    count: number,
    options: { readonly leaseMs?: number },
  ) => Effect.Effect<readonly Lease[], TakeError>;
  readonly ack: (messageSeq: number) => Effect.Effect<void, AckError>;
  readonly nack: (
    messageSeq: number,
    options?: { readonly retryAfterMs?: number },
  ) => Effect.Effect<void, NackError>;
  /** Calls `listener` after each batch is durable; returns the function that stops it. */
  readonly onBatch: (listener: () => void) => () => void;
}

/** An `inFlightMax`-bounded count of unanswered deliveries, waking the taker as they end. */
interface InFlight {
  count: number;
  readonly wake: Latch.Latch;
}

/** `consume`'s options once checked. */
interface DeliverySettings {
  readonly leaseMs: number | undefined;
  readonly inFlightMax: number;
  readonly pollMs: number;
}

const INVALID_ARGUMENT = new Expected<InvalidArgument>({ InvalidArgument: true });

/** Runs the argument checks in `check`: their `InvalidArgument` in the error channel. */
function checked<A>(check: () => A): Effect.Effect<A, InvalidArgument> {
  return Effect.try({ try: check, catch: (cause) => cause }).pipe(
    Effect.catch(failOrDie(INVALID_ARGUMENT)),
  );
}

/** The checked `leaseMs` and `pollMs` of `given`, with `inFlightMax`. */
function deliverySettings(
  given: { readonly leaseMs?: unknown; readonly pollMs?: unknown },
  inFlightMax: number,
): DeliverySettings {
  const { leaseMs, pollMs } = given;
  return {
    leaseMs: leaseMs === undefined ? undefined : checkDurationMs(leaseMs, "leaseMs", 1),
    inFlightMax,
    // A timer's delay, so from 1 ms: 0 would poll in a busy loop.
    pollMs: pollMs === undefined ? DELIVERY_POLL_MS : checkDurationMs(pollMs, "pollMs", 1),
  };
}

/**
 * The stream of deliveries from `source` (see `SpoolService.consume`); it fails with
 * `InvalidArgument` as it starts for bad options.
 *
 * @example
 * const stream = deliveries(source, { inFlightMax: 4 });
 */
export function deliveries(
  source: DeliverySource,
  options?: DeliveryOptions,
): Stream.Stream<Delivery, TakeError> {
  return Stream.unwrap(
    Effect.gen(function* () {
      const settings = yield* checked(() => {
        const given = checkOptions(options, ["leaseMs", "inFlightMax", "pollMs"]);
        const { inFlightMax } = given;
        return deliverySettings(
          given,
          inFlightMax === undefined ? 1 : checkCount(inFlightMax, "inFlightMax"),
        );
      });
      return yield* deliveryStream(source, settings);
    }),
  );
}

/** The deliveries of `source`, leased as the stream is pulled, up to `inFlightMax` unanswered. */
function deliveryStream(
  source: DeliverySource,
  settings: DeliverySettings,
): Effect.Effect<Stream.Stream<Delivery, TakeError>, never, Scope.Scope> {
  return Effect.gen(function* () {
    const inFlight: InFlight = { count: 0, wake: yield* Latch.make(false) };
    // A batch made messages ready: look again at once rather than at the next poll.
    yield* Effect.acquireRelease(
      Effect.sync(() => source.onBatch(() => inFlight.wake.openUnsafe())),
      (stop) => Effect.sync(stop),
    );
    const takeOptions = settings.leaseMs === undefined ? {} : { leaseMs: settings.leaseMs };
    const next = Effect.gen(function* () {
      for (;;) {
        // Closed before looking, so a wake while this looks is not lost.
        inFlight.wake.closeUnsafe();
        const free = settings.inFlightMax - inFlight.count;
        if (free <= 0) {
          // Back-pressure: no lease until a delivery is answered.
          yield* inFlight.wake.await;
          continue;
        }
        const leases = yield* source.takeMany(free, takeOptions);
        if (leases.length > 0) {
          inFlight.count += leases.length;
          return leases.map((lease) => delivery(source, lease, inFlight));
        }
        yield* Effect.raceFirst(inFlight.wake.await, Effect.sleep(settings.pollMs));
      }
    });
    return Stream.fromEffectRepeat(next).pipe(Stream.flattenIterable);
  });
}

/** `lease` with its answers, which free its place in `inFlight` once the first completes. */
function delivery(source: DeliverySource, lease: Lease, inFlight: InFlight): Delivery {
  let answered = false;
  const free = Effect.sync(() => {
    if (answered) return;
    answered = true;
    inFlight.count -= 1;
    inFlight.wake.openUnsafe();
  });
  return {
    seq: lease.seq,
    payload: lease.payload,
    attempt: lease.attempt,
    ack: source.ack(lease.seq).pipe(Effect.ensuring(free)),
    nack: (options) => source.nack(lease.seq, options).pipe(Effect.ensuring(free)),
  };
}

/** What a consumer fiber fails with: a take's error, or an answer's other than `NotLeased`. */
export type ConsumerError = TakeError | Exclude<AckError, NotLeased>;

/** `forkConsumer`'s options once checked. */
interface ConsumerSettings<E> {
  readonly concurrency: number;
  readonly retryAfterMs: number | ((lease: Lease, error: E) => number);
  readonly stream: DeliveryOptions;
}

function consumerSettings<E>(handler: unknown, options: unknown): ConsumerSettings<E> {
  checkFunction(handler, "handler");
  const given = checkOptions(options, ["concurrency", "leaseMs", "pollMs", "retryAfterMs"]);
  const { concurrency = 1, retryAfterMs = 0 } = given;
  // A function's results are checked by nack: a bad one stops the consumer.
  if (typeof retryAfterMs !== "function") checkDurationMs(retryAfterMs, "retryAfterMs", 0);
  const handlers = checkCount(concurrency, "concurrency");
  // Checked here as well as by the stream, so that bad options fail forkConsumer itself.
  const { leaseMs, pollMs } = deliverySettings(given, handlers);
  return {
    concurrency: handlers,
    retryAfterMs: retryAfterMs as ConsumerSettings<E>["retryAfterMs"],
    // One lease per handler: a handler takes its next message only once it answered the last.
    stream: { ...(leaseMs === undefined ? {} : { leaseMs }), pollMs, inFlightMax: handlers },
  };
}

/**
 * Runs `handler` on the deliveries `consume` streams, `concurrency` at a time, in a fiber of
 * the current scope (see `forkConsumer` for the rules).
 *
 * @example
 * const fiber = yield* forkConsumerOn(spool.consume, (lease) => deliver(lease.payload), {});
 */
export function forkConsumerOn<E, R>(
  consume: (options: DeliveryOptions) => Stream.Stream<Delivery, TakeError>,
  handler: (lease: Lease) => Effect.Effect<void, E, R>,
  options?: ConsumerOptions<E>,
): Effect.Effect<Fiber.Fiber<void, ConsumerError>, InvalidArgument, R | Scope.Scope> {
  return Effect.gen(function* () {
    const settings = yield* checked(() => consumerSettings<E>(handler, options));
    const answer = (item: Delivery) => {
      const lease: Lease = { seq: item.seq, payload: item.payload, attempt: item.attempt };
      return handler(lease).pipe(
        Effect.matchEffect({
          onSuccess: () => item.ack,
          onFailure: (error) => {
            const { retryAfterMs } = settings;
            const delayMs =
              typeof retryAfterMs === "number" ? retryAfterMs : retryAfterMs(lease, error);
            return item.nack({ retryAfterMs: delayMs });
          },
        }),
        // The handler outlived its lease and another took the message (at-least-once): this
        // answer no longer counts, and the consumer goes on.
        Effect.catchTag("NotLeased", () => Effect.void),
      );
    };
    const run = consume(settings.stream).pipe(
      Stream.mapEffect(answer, { concurrency: settings.concurrency, unordered: true }),
      Stream.runDrain,
    );
    return yield* Effect.forkScoped(run);
  });
}

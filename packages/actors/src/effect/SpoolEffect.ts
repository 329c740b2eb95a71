/**
 * The Effect-native API beside the Promise one (`SpoolEffect` in `@spool/actors`): the
 * {@link Spool} service, provided by a scoped layer (`layer(options)`, the directory closed
 * with the scope) or around any `SpoolApi` store (`layerFromStore`, `fromStore`); its
 * operations fail with closed unions of tagged errors per operation, and only programmer
 * errors are defects. `records` and `consume` are Streams; `forkConsumer` runs a handler per
 * message in a scoped fiber. See docs/effect.md.
 */
import type { AppendError, OpenError, Payload } from "@spool/core";
import { Effect, type Scope } from "effect";
import { type Spool as DirectorySpool, type OpenSpoolOptions, openSpool } from "../spool/Spool.js";
import type { AppendOptions, AppendResult, Writer } from "../writers/Writer.js";
import { attempt, EXPECTED } from "./OperationErrors.js";

export {
  type ConsumerError,
  type ConsumerOptions,
  DELIVERY_POLL_MS,
  type Delivery,
  type DeliveryOptions,
} from "./Deliveries.js";
export type {
  AckError,
  DeadLettersError,
  DepthError,
  EntryWriteError,
  MessageStateError,
  NackError,
  PurgeDeadLetterError,
  RecordsError,
  TakeError,
  WriterError,
} from "./OperationErrors.js";
export {
  forkConsumer,
  fromStore,
  layer,
  layerFromStore,
  Spool,
  type SpoolService,
  type SpoolWriter,
} from "./SpoolService.js";

/**
 * Opens a Promise-API spool for the life of the current scope, for code that holds the
 * `Spool` object itself; {@link layer} provides the service instead.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const spool = yield* SpoolEffect.open({ dir: "./spool-data" });
 *   return yield* SpoolEffect.append(spool.writer(), "hello");
 * }));
 */
export const open = (
  options: OpenSpoolOptions,
): Effect.Effect<DirectorySpool, OpenError, Scope.Scope> =>
  Effect.acquireRelease(
    attempt(EXPECTED.open, () => openSpool(options)),
    (spool) => Effect.promise(() => spool.close()),
  );

/**
 * Appends through a Promise-API writer; fails with the typed {@link AppendError}.
 *
 * @example
 * const { seq } = yield* SpoolEffect.append(writer, "hello");
 */
export const append = (
  writer: Writer,
  payload: Payload,
  options?: AppendOptions,
): Effect.Effect<AppendResult, AppendError> =>
  attempt(EXPECTED.append, () => writer.append(payload, options));

/**
 * The Effect-native API beside the Promise one: a scoped spool (closed when the scope closes)
 * and appends whose typed errors stay in the error channel.
 */
import type { AppendError, OpenError, Payload } from "@spool/core";
import { Effect, type Scope } from "effect";
import { type OpenSpoolOptions, openSpool, type Spool } from "./Spool.js";
import type { AppendOptions, AppendResult, Writer } from "./Writer.js";

function isTagged(cause: unknown): cause is { readonly _tag: string } {
  return typeof cause === "object" && cause !== null && "_tag" in cause;
}

/**
 * Opens a spool for the life of the current scope.
 *
 * @example
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const spool = yield* open({ dir: "./spool-data" });
 *   return yield* append(spool.writer(), "hello");
 * }));
 */
export const open = (options: OpenSpoolOptions): Effect.Effect<Spool, OpenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => openSpool(options),
      catch: (cause) => {
        if (isTagged(cause)) return cause as OpenError;
        throw cause;
      },
    }),
    (spool) => Effect.promise(() => spool.close()),
  );

/**
 * Appends through a writer; fails with the typed {@link AppendError}.
 *
 * @example
 * const { seq } = yield* append(writer, "hello");
 */
export const append = (
  writer: Writer,
  payload: Payload,
  options?: AppendOptions,
): Effect.Effect<AppendResult, AppendError> =>
  Effect.tryPromise({
    try: () => writer.append(payload, options),
    catch: (cause) => {
      if (isTagged(cause)) return cause as AppendError;
      throw cause;
    },
  });

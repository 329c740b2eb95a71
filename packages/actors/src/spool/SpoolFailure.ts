/**
 * How a spool that stopped on a fault of its own says so. A fault is an exception where none is
 * expected (in the synchronizer, a writer, the runtime's callbacks, an adapter that throws
 * something other than an I/O error): left alone it would stop an actor or a callback halfway
 * and leave appends pending forever. Caught, it becomes one {@link SpoolFailed}: every pending
 * append gets it, every later append gets it at once, `stats().state` reads `"failed"`, and the
 * listeners of `spool.onFailure` hear it once.
 */
import {
  describeValue,
  errorCode,
  FlushFailed,
  type SpoolFailed,
  StorageFailed,
} from "@spool/core";

/**
 * A listener of `spool.onFailure`.
 *
 * @example
 * const listener: FailureListener = (failure) => log(failure.reason);
 */
export type FailureListener = (failure: SpoolFailed) => void;

/**
 * The first failure of a spool and the listeners waiting for it.
 *
 * @example
 * const signal = new FailureSignal();
 * signal.listen((failure) => console.error(failure.message));
 * signal.raise(new SpoolFailed({ dir, reason: "the clock threw", cause }));
 */
export class FailureSignal {
  #failure: SpoolFailed | undefined;
  readonly #listeners = new Set<FailureListener>();

  /** The failure, once raised. */
  get failure(): SpoolFailed | undefined {
    return this.#failure;
  }

  /**
   * Records the failure (the first one only) and tells every listener. A listener that throws
   * is skipped: it cannot keep the others from hearing, nor fail the spool twice.
   */
  raise(failure: SpoolFailed): void {
    if (this.#failure !== undefined) return;
    this.#failure = failure;
    for (const listener of this.#listeners) {
      try {
        listener(failure);
      } catch {
        // An observer's own fault; the spool has failed already and says so.
      }
    }
    this.#listeners.clear();
  }

  /**
   * Calls `listener` once when the spool fails (on the next microtask if it has failed
   * already); returns the function that stops it.
   */
  listen(listener: FailureListener): () => void {
    const failure = this.#failure;
    if (failure !== undefined) {
      queueMicrotask(() => {
        try {
          listener(failure);
        } catch {
          // As in raise: an observer's fault is its own.
        }
      });
      return () => undefined;
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * Whether an error thrown by an adapter is an I/O error (typed, or carrying a system error's
 * errno `code` such as `EIO` or `ENOSPC`), which breaks the spool as a failed flush does,
 * rather than a fault. Node's own argument errors carry codes too (`ERR_OUT_OF_RANGE`,
 * `ERR_INVALID_ARG_TYPE`): those are a caller's mistake, so a fault.
 *
 * @example
 * isInputOutputError(Object.assign(new Error("x"), { code: "EIO" })) // true
 * isInputOutputError(Object.assign(new RangeError("x"), { code: "ERR_OUT_OF_RANGE" })) // false
 */
export function isInputOutputError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  try {
    const tag = (error as { _tag?: unknown })._tag;
    if (tag === "FlushFailed" || tag === "StorageFailed") return true;
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !code.startsWith("ERR_");
  } catch {
    // A revoked Proxy or a throwing getter: no I/O error looks like that, so it is a fault.
    // Throwing here, in the adapter's rejection handler, would strand the pending appends.
    return false;
  }
}

/**
 * An I/O error as the typed storage error it is reported as: a {@link FlushFailed} or
 * {@link StorageFailed} as it is, any other a `StorageFailed` of an unknown file.
 *
 * @example
 * asStorageFailure(Object.assign(new Error("x"), { code: "EIO" })).code // "EIO"
 */
export function asStorageFailure(error: unknown): FlushFailed | StorageFailed {
  if (error instanceof FlushFailed || error instanceof StorageFailed) return error;
  return new StorageFailed({ operation: "write", file: "?", code: errorCode(error), cause: error });
}

/**
 * A one-line description of a thrown value, for {@link SpoolFailed}'s reason. Never throws: it
 * runs while the spool fails, where a second exception would strand the pending appends, and
 * `String` throws on an object without a prototype or a revoked Proxy.
 *
 * @example
 * describeFault("the clock", new Error("no time")) // "the clock threw Error: no time"
 */
export function describeFault(where: string, error: unknown): string {
  let what: string | undefined;
  try {
    if (error instanceof Error) what = `${String(error.name)}: ${String(error.message)}`;
  } catch {
    // An Error whose name or message getter throws, or a Proxy of one: described by kind.
  }
  return `${where} threw ${what ?? describeValue(error)}`;
}

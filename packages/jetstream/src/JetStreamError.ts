/**
 * The errors of a spool on JetStream that a spool on disk has no word for. The rest are
 * Spool's own (`ConfigInvalid`, `InvalidArgument`, `NotLeased`, `SpoolClosed`, `FlushFailed`),
 * and `ClusterUnavailable`, which lives in `@spool/core` beside them because every store's
 * operations may meet it (the Effect API's error channels name it), and is re-exported here.
 */
import { Data } from "effect";

export { ClusterUnavailable } from "@spool/core";

/**
 * The stream or its consumer exists with a configuration a spool cannot keep its promises on
 * (a retention other than work queue, a different number of replicas, acks not explicit).
 *
 * @example
 * new StreamMismatch({ stream: "mms", field: "retention", found: "limits", expected: "workqueue" })
 */
export class StreamMismatch extends Data.TaggedError("StreamMismatch")<{
  readonly stream: string;
  readonly field: string;
  readonly found: string;
  readonly expected: string;
}> {
  override get message(): string {
    return `stream ${this.stream}: ${this.field} is ${this.found}, a spool needs ${this.expected}`;
  }
}

/**
 * A short reason for a client error: its name and message, for `ClusterUnavailable.reason`.
 *
 * @example
 * reasonOf(new Error("timeout")) // "Error: timeout"
 */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

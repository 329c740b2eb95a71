/**
 * The errors of a spool on JetStream that a spool on disk has no word for. The rest are
 * Spool's own (`ConfigInvalid`, `InvalidArgument`, `NotLeased`, `SpoolClosed`, `FlushFailed`).
 */
import { Data } from "effect";

/**
 * The cluster did not answer an operation in time (no quorum, no leader yet, the connection
 * down): the operation may or may not have taken effect. A take that rejects with it handed
 * nothing out; an ack or nack that rejects with it may be made again.
 *
 * @example
 * new ClusterUnavailable({ operation: "ack", stream: "mms", reason: "timeout" })
 */
export class ClusterUnavailable extends Data.TaggedError("ClusterUnavailable")<{
  readonly operation: string;
  readonly stream: string;
  readonly reason: string;
  readonly cause: unknown;
}> {
  override get message(): string {
    return `${this.operation} on stream ${this.stream}: the cluster did not answer (${this.reason})`;
  }
}

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

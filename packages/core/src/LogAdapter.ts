/**
 * The port between the synchronizer and a replicated log (a NATS JetStream stream, say): the
 * "flush adapter for logs". The synchronizer runs the same machine over it as over a
 * {@link FlushAdapter}: it gathers a batch by the same flush conditions (claims 5-13), hands
 * the batch to `append` where a disk spool would write and flush it, and sends the write
 * confirmations once `append` resolves. What differs is who numbers the records: the log
 * assigns each append its sequence number, and the confirmations carry the log's numbers.
 */

import type { FlushAdapter } from "./FlushAdapter.js";
import type { Seq } from "./Units.js";
import type { WriteRequest } from "./WriteRequest.js";

/** What a log reports for one batch, in batch order. @example { seqs: [seq(7), seq(8)], replicas: 2 } */
export interface LogAppended {
  /** The log's sequence number of each append, in the batch's order. */
  readonly seqs: readonly Seq[];
  /**
   * How many of the log's servers hold every append of the batch at least when `append`
   * resolved (for a JetStream stream, its quorum: a majority of its replicas).
   */
  readonly replicas: number;
}

/**
 * A replicated log a spool appends batches to. `append` rejects with `FlushFailed` when the
 * log did not acknowledge the batch in time (the spool then fails as it does on a failed
 * flush); a retry inside `append` must not store an append twice (a message id, an expected
 * last sequence).
 *
 * @example
 * const spool = await openJetStreamSpool({ servers: "nats://127.0.0.1:4222", stream: "mms" });
 */
export interface LogAdapter {
  /** Tells it apart from a {@link FlushAdapter}. */
  readonly kind: "log";
  /** A short name for stats and logs ("jetstream"). */
  readonly name: string;
  /**
   * Appends the batch's requests in order and resolves once the log acknowledged all of them,
   * with their sequence numbers. `sent` is called once every request was handed to the log's
   * connection (the next batch may go beside this one from then on).
   */
  append(requests: readonly WriteRequest[], sent: () => void): Promise<LogAppended>;
  /** Releases what it holds; idempotent. */
  close(): Promise<void>;
}

/**
 * Whether an adapter is a {@link LogAdapter} rather than a `FlushAdapter`.
 *
 * @example
 * if (isLogAdapter(adapter)) await adapter.append(requests, () => undefined);
 */
export function isLogAdapter(adapter: FlushAdapter | LogAdapter): adapter is LogAdapter {
  return "kind" in adapter && adapter.kind === "log";
}

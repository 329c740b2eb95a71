/**
 * Reading a stream back as `Spool.records` reads a spool's log: in seq order, from a seq on, up
 * to the last message when the iteration began. A work-queue stream keeps only messages not
 * yet done, so acked seqs are skipped.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { checkOptions } from "@spool/actors";
import { InvalidArgument, type Seq, seq } from "@spool/core";
import { ClusterUnavailable, reasonOf } from "./JetStreamError.js";

/** A message as the stream holds it. @example { seq, payload, appendedAtMs } */
export interface StreamRecord {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  /** When the stream's leader stored it (its clock). */
  readonly appendedAtMs: number;
}

/**
 * The stream's messages from `options.from` on. The first step rejects with `InvalidArgument`
 * for bad options and `ClusterUnavailable` when the stream does not answer.
 *
 * @example
 * for await (const record of streamRecords(jsm, "mms", { from: 1 })) console.log(record.seq);
 */
export async function* streamRecords(
  jsm: JetStreamManager,
  stream: string,
  options: { readonly from?: number },
): AsyncGenerator<StreamRecord, void, undefined> {
  const { from = 1 } = checkOptions(options, ["from"]);
  if (typeof from !== "number" || !Number.isSafeInteger(from) || from < 1) {
    const message = `from: must be a whole number from 1, not ${String(from)}`;
    throw new InvalidArgument({ argument: "from", message });
  }
  const unavailable = (error: unknown) =>
    new ClusterUnavailable({ operation: "records", stream, reason: reasonOf(error), cause: error });
  const info = await jsm.streams.info(stream).catch((error: unknown) => {
    throw unavailable(error);
  });
  const { first_seq, last_seq } = info.state;
  for (let at = Math.max(from, first_seq); at <= last_seq; at++) {
    const stored = await jsm.streams.getMessage(stream, { seq: at }).catch((error: unknown) => {
      throw unavailable(error);
    });
    if (stored === null) continue;
    yield { seq: seq(stored.seq), payload: stored.data, appendedAtMs: stored.time.getTime() };
  }
}

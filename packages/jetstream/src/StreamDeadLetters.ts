/**
 * Dead letters on a stream: the server announces a message that ran out of deliveries on its
 * max-deliveries advisory subject, and the dead-letter stream keeps those advisories (see
 * `ensureStreams`). The message itself stays in the work-queue stream (it was never acked)
 * until it is purged. This module reads the advisories it has not read yet and forgets those
 * whose message is gone.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { NotLeased, type Seq, seq } from "@spool/core";
import { ClusterUnavailable, reasonOf } from "./JetStreamError.js";
import type { JetStreamSettings } from "./JetStreamOptions.js";
import { deadLetterStreamName, maxDeliveriesSubject } from "./Streams.js";

/** A message whose attempts ran out. @example { seq, payload, attempts: 5 } */
export interface StreamDeadLetter {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  readonly attempts: number;
}

/** The dead letters of one stream, read from its dead-letter stream. */
export class StreamDeadLetters {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #subject: string;
  readonly #deadStream: string;
  /** Dead message seq → its deliveries and the advisories (dead-stream seqs) naming it. */
  readonly #known = new Map<number, { attempts: number; advisories: number[] }>();
  /** The last dead-stream seq read. */
  #readThrough = 0;

  constructor(js: JetStreamClient, jsm: JetStreamManager, settings: JetStreamSettings) {
    this.#js = js;
    this.#jsm = jsm;
    this.#stream = settings.stream;
    this.#subject = maxDeliveriesSubject(settings.stream, settings.consumer);
    this.#deadStream = deadLetterStreamName(settings.stream);
  }

  /**
   * Records a message dead as the server's advisory would (the same subject, the same
   * `stream_seq` and `deliveries`), once: its message id is the seq, so a spool that records
   * it again within the duplicate window stores nothing, and the server's own advisory, when
   * it comes, names the same seq.
   */
  async record(messageSeq: Seq, attempts: number): Promise<void> {
    const advisory = { type: "spool.dead_letter", stream_seq: messageSeq, deliveries: attempts };
    await this.#guard("nack", () =>
      this.#js.publish(this.#subject, JSON.stringify(advisory), { msgID: `dead.${messageSeq}` }),
    );
  }

  /** Whether `messageSeq` was announced dead (as of the last {@link refresh}). */
  has(messageSeq: number): boolean {
    return this.#known.has(messageSeq);
  }

  /** How many dead letters are known (as of the last {@link refresh}). */
  count(): number {
    return this.#known.size;
  }

  /** Reads the advisories that came since the last call. */
  async refresh(): Promise<void> {
    await this.#guard("deadLetters", async () => {
      const info = await this.#jsm.streams.info(this.#deadStream);
      const last = info.state.last_seq;
      for (let at = Math.max(this.#readThrough + 1, info.state.first_seq); at <= last; at++) {
        const stored = await this.#jsm.streams.getMessage(this.#deadStream, { seq: at });
        if (stored !== null) this.#note(stored.data, at);
      }
      this.#readThrough = Math.max(this.#readThrough, last);
    });
  }

  /** The dead letters whose message is still in the stream, in seq order. */
  async list(): Promise<StreamDeadLetter[]> {
    await this.refresh();
    const letters: StreamDeadLetter[] = [];
    for (const messageSeq of [...this.#known.keys()].sort((a, b) => a - b)) {
      const stored = await this.#guard("deadLetters", () =>
        this.#jsm.streams.getMessage(this.#stream, { seq: messageSeq }),
      );
      const { attempts } = this.#known.get(messageSeq)!;
      // Gone from the stream: purged by another spool, or acked after all; no longer dead.
      if (stored === null) this.#known.delete(messageSeq);
      else letters.push({ seq: seq(messageSeq), payload: stored.data, attempts });
    }
    return letters;
  }

  /**
   * Deletes the dead message from the stream and its advisories from the dead-letter stream.
   * Rejects with `NotLeased` when no dead letter has that seq.
   */
  async purge(messageSeq: Seq): Promise<void> {
    await this.refresh();
    const known = this.#known.get(messageSeq);
    if (known === undefined) throw new NotLeased({ seq: messageSeq, reason: "unknown" });
    await this.#guard("purgeDeadLetter", async () => {
      await this.#deleteQuietly(this.#stream, messageSeq);
      for (const advisory of known.advisories) {
        await this.#deleteQuietly(this.#deadStream, advisory);
      }
    });
    this.#known.delete(messageSeq);
  }

  #note(data: Uint8Array, advisorySeq: number): void {
    let advisory: { stream_seq?: unknown; deliveries?: unknown };
    try {
      advisory = JSON.parse(new TextDecoder().decode(data)) as typeof advisory;
    } catch {
      return;
    }
    const { stream_seq, deliveries } = advisory;
    if (typeof stream_seq !== "number" || !Number.isSafeInteger(stream_seq)) return;
    const attempts = typeof deliveries === "number" ? deliveries : 0;
    const known = this.#known.get(stream_seq);
    if (known === undefined) this.#known.set(stream_seq, { attempts, advisories: [advisorySeq] });
    else {
      known.attempts = Math.max(known.attempts, attempts);
      known.advisories.push(advisorySeq);
    }
  }

  async #deleteQuietly(stream: string, at: number): Promise<void> {
    await this.#jsm.streams.deleteMessage(stream, at, false).catch((error: unknown) => {
      // Deleted already (by another spool purging the same letter): the purge stands.
      if (error instanceof Error && /not found|no message/i.test(error.message)) return;
      throw error;
    });
  }

  async #guard<T>(operation: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof NotLeased) throw error;
      throw new ClusterUnavailable({
        operation,
        stream: this.#stream,
        reason: reasonOf(error),
        cause: error,
      });
    }
  }
}

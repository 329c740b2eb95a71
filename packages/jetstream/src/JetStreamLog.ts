/**
 * The "flush adapter for logs" on a JetStream stream: a batch becomes pipelined publishes,
 * each with a message id, and its flush is every acknowledgement in. A publish whose
 * acknowledgement does not come (the server it went to died, a leader election) is sent again
 * with the same message id until `retryForMs` has passed: the stream stores it once, and its
 * acknowledgement names the sequence number it was stored under the first time. A publish
 * the stream refuses (full with discard-new, a message over its size limit) is not sent again:
 * it fails at once with the stream's error code (`EJS<code>`).
 */
import { JetStreamApiError, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import { nuid } from "@nats-io/nats-core";
import {
  FlushFailed,
  type LogAdapter,
  type LogAppended,
  type Seq,
  seq,
  type WriteRequest,
} from "@spool/core";
import { reasonOf } from "./JetStreamError.js";

/** What the log publishes with. @example { js, stream: "mms", subject: "spool.mms", replicas: 3, ... } */
export interface JetStreamLogOptions {
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly subject: string;
  readonly replicas: number;
  readonly publishTimeoutMs: number;
  readonly retryForMs: number;
}

/**
 * Between two sends of one publish: long enough for a client to reconnect to another server,
 * short against a leader election (4-8 s measured on nats-server 2.9).
 */
const RESEND_PAUSE_MS = 100;

/**
 * A stream as a {@link LogAdapter}.
 *
 * @example
 * const log = new JetStreamLog({ js, stream: "mms", subject: "spool.mms", replicas: 3, publishTimeoutMs: 5000, retryForMs: 60000 });
 */
export class JetStreamLog implements LogAdapter {
  readonly kind = "log";
  readonly name = "jetstream";
  readonly #options: JetStreamLogOptions;
  /** Message ids are this open's id, the batch's number and the append's place in it. */
  readonly #openId = nuid.next();
  #batches = 0;
  /** Publishes sent again after a missing acknowledgement, and those the stream knew already. */
  #resent = 0;
  #duplicates = 0;
  #closed = false;

  constructor(options: JetStreamLogOptions) {
    this.#options = options;
  }

  /** Publishes sent again, and how many of those the stream had stored already. */
  counters(): { readonly resent: number; readonly duplicates: number } {
    return { resent: this.#resent, duplicates: this.#duplicates };
  }

  async append(requests: readonly WriteRequest[], sent: () => void): Promise<LogAppended> {
    const batch = ++this.#batches;
    const deadline = performance.now() + this.#options.retryForMs;
    const acks = requests.map((request, at) =>
      this.#publish(request.payload, `${this.#openId}.${batch}.${at}`, deadline),
    );
    // Every publish is in the connection's buffer now: the next batch may follow.
    sent();
    const stored = await Promise.all(acks);
    const seqs: Seq[] = stored.map((ack) => seq(ack.seq));
    // A JetStream acknowledgement means a majority of the stream's servers stored it.
    return { seqs, replicas: Math.floor(this.#options.replicas / 2) + 1 };
  }

  async #publish(payload: Uint8Array, msgID: string, deadline: number): Promise<PubAck> {
    const { js, subject, publishTimeoutMs, stream } = this.#options;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const ack = await js.publish(subject, payload, { msgID, timeout: publishTimeoutMs });
        if (attempt > 1 && ack.duplicate) this.#duplicates += 1;
        return ack;
      } catch (error) {
        const refused = isRefusal(error);
        if (refused || this.#closed || performance.now() >= deadline) {
          const code = refused
            ? `EJS${(error as JetStreamApiError).code}`
            : attempt > 1
              ? "ETIMEDOUT"
              : "EPUBLISH";
          throw new FlushFailed({
            file: `stream ${stream} (${reasonOf(error)})`,
            offset: 0,
            byteSize: payload.byteLength,
            code,
            cause: error,
          });
        }
        this.#resent += 1;
        await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS));
      }
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/**
 * The stream answered and said no (a 4xx status: full, too large, a bad subject): sending the
 * same publish again gets the same answer. A 5xx (no leader, the system unavailable) may pass.
 */
function isRefusal(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.status < 500;
}

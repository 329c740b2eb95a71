/**
 * The "flush adapter for logs" on a JetStream stream: a batch becomes pipelined publishes, each
 * with a message id, and its flush is every acknowledgement in. The publishes go out as plain
 * messages with a reply subject under one inbox of the log's (not one request per message, as
 * `js.publish` makes: that costs a promise, a timer and an error object each, about half the
 * process's CPU per message at 256 writers). A publish whose acknowledgement does not come in
 * `publishTimeoutMs` (its server died, an election) is sent again with the same message id until
 * `retryForMs` has passed: the stream stores it once, and its acknowledgement names the sequence
 * number it was stored under the first time. A publish the stream refuses (full with
 * discard-new, a message over its size limit) is not sent again: its batch fails at once with
 * the stream's error code (`EJS<code>`).
 */
import {
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/nats-core";
import {
  FlushFailed,
  type LogAdapter,
  type LogAppended,
  seq,
  type WriteRequest,
} from "@spool/core";
import { reasonOf } from "./JetStreamError.js";

/** What the log publishes with. @example { nc, stream: "mms", subject: "spool.mms", replicas: 3, ... } */
export interface JetStreamLogOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly subject: string;
  readonly replicas: number;
  readonly publishTimeoutMs: number;
  readonly retryForMs: number;
}

/**
 * Between a "no responders" answer (the stream has no leader for a moment) and sending again:
 * short against a leader election (4-8 s measured on nats-server 2.9), long enough not to spin.
 */
const RESEND_PAUSE_MS = 100;

/** One batch on its way: its publishes, their answers, and how it ends. */
interface BatchInFlight {
  readonly requests: readonly WriteRequest[];
  readonly seqs: number[];
  /** Indexes of the publishes not answered yet. */
  readonly unanswered: Set<number>;
  readonly deadline: number;
  readonly resolve: (appended: LogAppended) => void;
  readonly reject: (error: FlushFailed) => void;
  timer: ReturnType<typeof setInterval> | undefined;
}

/**
 * A stream as a {@link LogAdapter}.
 *
 * @example
 * const log = new JetStreamLog({ nc, stream: "mms", subject: "spool.mms", replicas: 3, publishTimeoutMs: 5000, retryForMs: 60000 });
 */
export class JetStreamLog implements LogAdapter {
  readonly kind = "log";
  readonly name = "jetstream";
  readonly #options: JetStreamLogOptions;
  /** Replies come to `<inbox>.<batch>_<index>`; the batch and index are also the message id's. */
  readonly #inbox = createInbox();
  readonly #subscription: Subscription;
  readonly #batches = new Map<number, BatchInFlight>();
  readonly #openId = this.#inbox.slice(this.#inbox.lastIndexOf(".") + 1);
  #batchCount = 0;
  #resent = 0;
  #duplicates = 0;
  #closed = false;

  constructor(options: JetStreamLogOptions) {
    this.#options = options;
    this.#subscription = options.nc.subscribe(`${this.#inbox}.*`, {
      callback: (error, message) => {
        if (error === null) this.#answered(message);
      },
    });
  }

  /** Publishes sent again, and how many of those the stream had stored already. */
  counters(): { readonly resent: number; readonly duplicates: number } {
    return { resent: this.#resent, duplicates: this.#duplicates };
  }

  append(requests: readonly WriteRequest[], sent: () => void): Promise<LogAppended> {
    const batchNumber = ++this.#batchCount;
    return new Promise((resolve, reject) => {
      const batch: BatchInFlight = {
        requests,
        seqs: new Array<number>(requests.length).fill(0),
        unanswered: new Set(requests.keys()),
        deadline: performance.now() + this.#options.retryForMs,
        resolve,
        reject,
        timer: undefined,
      };
      this.#batches.set(batchNumber, batch);
      for (const at of batch.unanswered) this.#publish(batchNumber, at);
      // Every publish is in the connection's buffer now: the next batch may follow.
      sent();
      batch.timer = setInterval(
        () => this.#resendMissing(batchNumber),
        this.#options.publishTimeoutMs,
      );
    });
  }

  #publish(batchNumber: number, at: number): void {
    const batch = this.#batches.get(batchNumber);
    if (batch === undefined) return;
    const { nc, subject } = this.#options;
    const messageHeaders = headers();
    messageHeaders.set("Nats-Msg-Id", `${this.#openId}.${batchNumber}.${at}`);
    try {
      nc.publish(subject, batch.requests[at]!.payload, {
        reply: `${this.#inbox}.${batchNumber}_${at}`,
        headers: messageHeaders,
      });
    } catch (error) {
      // The connection is closed (not reconnecting: that buffers): no publish can go out.
      this.#fail(batchNumber, "EPUBLISH", error);
    }
  }

  /** A batch's timer: publishes still unanswered go again, until the batch's deadline. */
  #resendMissing(batchNumber: number): void {
    const batch = this.#batches.get(batchNumber);
    if (batch === undefined) return;
    if (this.#closed || performance.now() >= batch.deadline) {
      const reason = new Error(`${batch.unanswered.size} publishes unacknowledged`);
      this.#fail(batchNumber, "ETIMEDOUT", reason);
      return;
    }
    for (const at of batch.unanswered) {
      this.#resent += 1;
      this.#publish(batchNumber, at);
    }
  }

  #answered(message: Msg): void {
    const token = message.subject.slice(this.#inbox.length + 1);
    const [batchText, atText] = token.split("_");
    const batchNumber = Number(batchText);
    const at = Number(atText);
    const batch = this.#batches.get(batchNumber);
    if (batch === undefined || !batch.unanswered.has(at)) return;
    // 503: no responders, the stream has no leader for a moment. Send again shortly.
    if (message.headers?.code === 503) {
      setTimeout(() => {
        if (batch.unanswered.has(at)) this.#publish(batchNumber, at);
      }, RESEND_PAUSE_MS);
      return;
    }
    const answer = parseAnswer(message);
    if (answer.kind === "refused") {
      this.#fail(batchNumber, `EJS${answer.code}`, new Error(answer.description));
      return;
    }
    if (answer.kind === "retry") return;
    if (answer.duplicate) this.#duplicates += 1;
    batch.seqs[at] = answer.seq;
    batch.unanswered.delete(at);
    if (batch.unanswered.size > 0) return;
    clearInterval(batch.timer);
    this.#batches.delete(batchNumber);
    // A JetStream acknowledgement means a majority of the stream's servers stored it.
    const replicas = Math.floor(this.#options.replicas / 2) + 1;
    batch.resolve({ seqs: batch.seqs.map((stored) => seq(stored)), replicas });
  }

  #fail(batchNumber: number, code: string, cause: unknown): void {
    const batch = this.#batches.get(batchNumber);
    if (batch === undefined) return;
    clearInterval(batch.timer);
    this.#batches.delete(batchNumber);
    let byteSize = 0;
    for (const request of batch.requests) byteSize += request.payload.byteLength;
    batch.reject(
      new FlushFailed({
        file: `stream ${this.#options.stream} (${reasonOf(cause)})`,
        offset: 0,
        byteSize,
        code,
        cause,
      }),
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    // Batches still out fail at their next timer; the subscription ends with the connection.
    this.#subscription.unsubscribe();
    for (const batchNumber of [...this.#batches.keys()]) {
      this.#fail(batchNumber, "ECLOSED", new Error("the log was closed"));
    }
    return Promise.resolve();
  }
}

/**
 * The stream's errors that sending again cannot change, whatever HTTP-like status they come
 * with (nats-server 2.9 answers a full stream with 503): the store refused the message (10077:
 * full with discard-new, among others), the message is over the stream's size limit (10054),
 * and an expectation failed (10060, 10070, 10071).
 */
const REFUSALS: ReadonlySet<number> = new Set([10054, 10060, 10070, 10071, 10077]);

type Answer =
  | { readonly kind: "stored"; readonly seq: number; readonly duplicate: boolean }
  | { readonly kind: "refused"; readonly code: number; readonly description: string }
  | { readonly kind: "retry" };

/**
 * A publish's acknowledgement: `{ stream, seq, duplicate? }`, or `{ error: { code, err_code,
 * description } }`. A 4xx error or one of {@link REFUSALS} is the stream's refusal (sending again
 * gets the same answer); another 5xx or an unreadable answer may pass, so the publish is sent
 * again at the batch's timer.
 */
function parseAnswer(message: Msg): Answer {
  let body: { seq?: unknown; duplicate?: unknown; error?: Record<string, unknown> };
  try {
    body = JSON.parse(new TextDecoder().decode(message.data)) as typeof body;
  } catch {
    return { kind: "retry" };
  }
  if (body.error !== undefined) {
    const status = Number(body.error.code);
    const code = Number(body.error.err_code ?? status);
    if (!(status < 500) && !REFUSALS.has(code)) return { kind: "retry" };
    return { kind: "refused", code, description: String(body.error.description ?? status) };
  }
  if (typeof body.seq !== "number" || !Number.isSafeInteger(body.seq)) return { kind: "retry" };
  return { kind: "stored", seq: body.seq, duplicate: body.duplicate === true };
}

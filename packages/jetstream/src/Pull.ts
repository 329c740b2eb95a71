/**
 * One pull request to a durable consumer, made by hand: the client's `fetch` waits at least a
 * second when nothing is ready, and `take` must answer at once. The server sends up to `batch`
 * messages to an inbox, then a status (404 no messages, 408 the request expired) unless the
 * batch filled. Each message's reply subject is where its ack goes and says which delivery it is.
 */
import { createInbox, type Msg, type NatsConnection, nanos } from "@nats-io/nats-core";
import { ClusterUnavailable } from "./JetStreamError.js";

/** A message as a pull handed it over. @example { streamSeq: 7, delivery: 1, reply, payload } */
export interface Delivery {
  readonly streamSeq: number;
  /** 1 on the first delivery. */
  readonly delivery: number;
  /** Where acks, nacks and in-progress notes for this delivery go. */
  readonly reply: string;
  readonly payload: Uint8Array;
  /** When it arrived (`performance.now()`): the ack wait runs from about then. */
  readonly arrivedAtMs: number;
}

/** What one pull asks for. @example { batch: 32, waitMs: 0 } */
export interface PullRequest {
  readonly batch: number;
  /** 0: answer at once with what is ready. More: wait up to this long for the first message. */
  readonly waitMs: number;
}

/**
 * The expiry sent with a pull that must answer at once. nats-server 2.9 leaves a `no_wait`
 * pull without one unanswered for good once a message that ran out of deliveries sits in the
 * consumer's redelivery queue (seen here: a take after a dead letter never returned), while
 * with one it answers 408 at expiry at the latest. The price: a take finding nothing ready
 * resolves after this long rather than at once.
 */
export const NO_WAIT_EXPIRES_MS = 100;

/**
 * How long a pull may go unanswered before it is given up as `ClusterUnavailable`: past the
 * 4-8 s a consumer leader's election took on nats-server 2.9, so an election is waited out.
 */
export const PULL_ANSWER_MS_MAX = 10_000;

/**
 * Pulls up to `request.batch` messages from the consumer.
 *
 * @example
 * const deliveries = await pull(nc, "mms", "spool", { batch: 32, waitMs: 0 });
 */
export function pull(
  nc: NatsConnection,
  stream: string,
  consumer: string,
  request: PullRequest,
): Promise<Delivery[]> {
  return new Promise((resolve, reject) => {
    const deliveries: Delivery[] = [];
    const inbox = createInbox();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (failure?: ClusterUnavailable): void => {
      clearTimeout(timer);
      subscription.unsubscribe();
      if (failure !== undefined && deliveries.length === 0) reject(failure);
      else resolve(deliveries);
    };
    const subscription = nc.subscribe(inbox, {
      callback: (error, message) => {
        if (error !== null) {
          finish(unavailable(stream, String(error.message), error));
          return;
        }
        const code = message.headers?.code ?? 0;
        // 404, 408, 409: the pull is over; 100 (a heartbeat) carries nothing.
        if (code >= 400) return finish();
        if (code !== 0) return;
        const delivery = deliveryOf(message);
        if (delivery !== undefined) deliveries.push(delivery);
        if (deliveries.length >= request.batch) finish();
      },
    });
    timer = setTimeout(
      () => finish(unavailable(stream, "no answer to a pull", undefined)),
      Math.max(request.waitMs, NO_WAIT_EXPIRES_MS) + PULL_ANSWER_MS_MAX,
    );
    const body =
      request.waitMs === 0
        ? { batch: request.batch, no_wait: true, expires: nanos(NO_WAIT_EXPIRES_MS) }
        : { batch: request.batch, expires: nanos(request.waitMs) };
    try {
      nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(body), {
        reply: inbox,
      });
    } catch (error) {
      finish(unavailable(stream, "the connection refused the pull", error));
    }
  });
}

function unavailable(stream: string, reason: string, cause: unknown): ClusterUnavailable {
  return new ClusterUnavailable({ operation: "take", stream, reason, cause });
}

/**
 * The delivery a message's reply subject describes:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`,
 * or with a domain and an account hash after `$JS.ACK` (servers from 2.9 may send either).
 */
function deliveryOf(message: Msg): Delivery | undefined {
  const reply = message.reply;
  if (reply === undefined || !reply.startsWith("$JS.ACK.")) return undefined;
  const tokens = reply.split(".");
  const at = tokens.length === 9 ? 4 : 6;
  const delivery = Number(tokens[at]);
  const streamSeq = Number(tokens[at + 1]);
  if (!Number.isSafeInteger(delivery) || !Number.isSafeInteger(streamSeq)) return undefined;
  return { streamSeq, delivery, reply, payload: message.data, arrivedAtMs: performance.now() };
}

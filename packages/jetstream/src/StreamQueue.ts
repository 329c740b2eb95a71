/**
 * The consumers' side of a spool on JetStream: leases are deliveries of the stream's durable
 * pull consumer (a lease lasts its ack wait, `leaseMs`), an ack is a double ack that resolves
 * once the consumer's leader recorded it, a nack is a nak with a delay, and `maxAttempts` is
 * the consumer's max deliver.
 *
 * On nats-server 2.9 a double ack is answered before the ack is replicated, so an acked message
 * can be delivered again after the consumer's leader fails. A spool remembers the seqs it acked
 * until the consumer's ack floor passes them, acks such a delivery again and hands it to no
 * one. What it cannot cover: a message acked through one spool and delivered again to another.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { checkCount, checkDurationMs, checkOptions, checkSeq, type Lease } from "@spool/actors";
import { InvalidArgument, NotLeased, type Seq, SpoolClosed, seq } from "@spool/core";
import { ClusterUnavailable, reasonOf } from "./JetStreamError.js";
import type { JetStreamSettings } from "./JetStreamOptions.js";
import { type Delivery, pull } from "./Pull.js";
import { StreamDeadLetters } from "./StreamDeadLetters.js";

/** How long an ack or nack waits for the consumer's leader to record it. */
const ANSWER_TIMEOUT_MS = 10_000;
/**
 * Acked seqs remembered before the consumer's ack floor is asked for, to forget those it
 * passed: one consumer-info request per 4096 acks.
 */
const ACKED_CHECK_EVERY = 4096;
/**
 * Acked seqs remembered at most: past it the oldest are forgotten. One million seqs is about
 * 40 MiB of memory and, at 50,000 acks/s, 20 s of acks: far beyond a leader election (4-8 s).
 * It bounds the memory when the ack floor stands still (a dead letter at its head, say).
 */
const ACKED_REMEMBERED_MAX = 1 << 20;
/** Most messages one pull asks for: the most a consume loop's handlers take at once. */
const PULL_BATCH_MAX = 4096;

/** What a message is, as far as the stream and this spool can tell. @example "queued" */
export type StreamMessageState = "queued" | "leased" | "dead" | "done" | "unknown";

/** Counters of the consumers' side. @example stats.acks */
export interface StreamQueueStats {
  readonly leases: number;
  readonly acks: number;
  readonly nacks: number;
  /**
   * Messages this spool made dead letters: nacked on their last attempt. A lease that ran out
   * on its last attempt is the server's to announce, and is not counted here.
   */
  readonly deadLettered: number;
  readonly leasesLost: number;
  /** Deliveries of messages this spool had acked, acked again instead of handed out. */
  readonly ackedDeliveredAgain: number;
}

interface Held {
  readonly reply: string;
  readonly attempt: number;
  readonly untilMs: number;
}

/** The consumers' side of one spool. */
export class StreamQueue {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #settings: JetStreamSettings;
  readonly #deadLetters: StreamDeadLetters;
  readonly #leased = new Map<number, Held>();
  readonly #acked = new Set<number>();
  #acksSinceCheck = 0;
  readonly #waiting = new Set<() => void>();
  /** Messages a waiting pull brought while no take asked: handed out first. */
  #prefetched: Delivery[] = [];
  #waitingPull: Promise<void> | undefined;
  #closing = false;
  readonly #counts = {
    leases: 0,
    acks: 0,
    nacks: 0,
    deadLettered: 0,
    leasesLost: 0,
    ackedDeliveredAgain: 0,
  };

  constructor(
    nc: NatsConnection,
    js: JetStreamClient,
    jsm: JetStreamManager,
    settings: JetStreamSettings,
  ) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#settings = settings;
    this.#deadLetters = new StreamDeadLetters(js, jsm, settings);
  }

  get deadLetters(): StreamDeadLetters {
    return this.#deadLetters;
  }

  stats(): StreamQueueStats {
    return { ...this.#counts };
  }

  /** Leases up to `count` ready messages; none ready resolves an empty array (within 100 ms). */
  async takeMany(count: number, options: { readonly leaseMs?: number } = {}): Promise<Lease[]> {
    const wanted = Math.min(checkCount(count, "count"), PULL_BATCH_MAX);
    this.#checkLeaseMs(options);
    if (this.#closing) throw new SpoolClosed({ dir: this.#where() });
    const leases: Lease[] = [];
    const held = this.#prefetched.splice(0, wanted);
    const { stream, consumer } = this.#settings;
    const pulled =
      held.length < wanted
        ? await pull(this.#nc, stream, consumer, { batch: wanted - held.length, waitMs: 0 })
        : [];
    for (const delivery of [...held, ...pulled]) {
      const lease = this.#lease(delivery);
      if (lease !== undefined) leases.push(lease);
    }
    return leases;
  }

  async ack(messageSeq: number): Promise<void> {
    const checked = checkSeq(messageSeq);
    const held = this.#holding(checked);
    this.#leased.delete(checked);
    this.#acked.add(checked);
    if (this.#acked.size > ACKED_REMEMBERED_MAX) {
      // A Set iterates in insertion order: the first is the longest remembered.
      this.#acked.delete(this.#acked.values().next().value!);
    }
    try {
      await this.#nc.request(held.reply, "+ACK", { timeout: ANSWER_TIMEOUT_MS });
    } catch (error) {
      // Not known recorded: the lease stands until it runs out, and the ack may be made again.
      this.#acked.delete(checked);
      if (performance.now() < held.untilMs) this.#leased.set(checked, held);
      throw this.#unavailable("ack", error);
    }
    this.#counts.acks += 1;
    if (++this.#acksSinceCheck >= ACKED_CHECK_EVERY) this.#forgetPassedAcks();
  }

  async nack(messageSeq: number, options: { readonly retryAfterMs?: number } = {}): Promise<void> {
    const checked = checkSeq(messageSeq);
    const given = checkOptions(options, ["retryAfterMs"]);
    const retryAfterMs = checkDurationMs(given.retryAfterMs ?? 0, "retryAfterMs", 0);
    const held = this.#holding(checked);
    this.#leased.delete(checked);
    const body =
      retryAfterMs === 0 ? "-NAK" : `-NAK ${JSON.stringify({ delay: nanos(retryAfterMs) })}`;
    try {
      await this.#nc.request(held.reply, body, { timeout: ANSWER_TIMEOUT_MS });
    } catch (error) {
      if (performance.now() < held.untilMs) this.#leased.set(checked, held);
      throw this.#unavailable("nack", error);
    }
    this.#counts.nacks += 1;
    // Its last attempt: the server announces it dead only when it next tries to deliver it
    // (seen on 2.9: a nak alone announced nothing), so the spool records it now.
    if (held.attempt >= this.#settings.config.maxAttempts) {
      await this.#deadLetters.record(checked, held.attempt);
      this.#counts.deadLettered += 1;
    }
  }

  /** What became of a message, asking the stream where this spool does not know. */
  async messageState(messageSeq: number): Promise<StreamMessageState> {
    const checked = checkSeq(messageSeq);
    if (this.#leased.has(checked)) return "leased";
    if (this.#acked.has(checked)) return "done";
    const { stream, consumer } = this.#settings;
    try {
      const stored = await this.#jsm.streams.getMessage(stream, { seq: checked });
      if (stored === null) {
        const { state } = await this.#jsm.streams.info(stream);
        return checked <= state.last_seq ? "done" : "unknown";
      }
      await this.#deadLetters.refresh();
      if (this.#deadLetters.has(checked)) return "dead";
      const info = await this.#jsm.consumers.info(stream, consumer);
      return checked <= info.delivered.stream_seq ? "leased" : "queued";
    } catch (error) {
      throw this.#unavailable("messageState", error);
    }
  }

  /** Messages not yet done, dead letters excluded. */
  async depth(): Promise<number> {
    try {
      const { state } = await this.#jsm.streams.info(this.#settings.stream);
      await this.#deadLetters.refresh();
      return Math.max(0, state.messages - this.#deadLetters.count());
    } catch (error) {
      throw this.#unavailable("depth", error);
    }
  }

  /**
   * Calls `wake` once a message may be ready: a waiting pull brings the first one. Never
   * during the call: a consume loop whose handlers are all busy waits here for one to finish,
   * and a wake at once would spin it without yielding (a message held already is no news).
   */
  waitForReady(wake: () => void): void {
    this.#waiting.add(wake);
    if (this.#prefetched.length > 0 || this.#closing) return;
    this.#waitingPull ??= this.#pullWhileWaiting().finally(() => {
      this.#waitingPull = undefined;
    });
  }

  unwait(wake: () => void): void {
    this.#waiting.delete(wake);
  }

  closing(): boolean {
    return this.#closing;
  }

  leaseLost(): void {
    this.#counts.leasesLost += 1;
  }

  /** Stops handing out; the waiting pull ends with its expiry. */
  close(): void {
    this.#closing = true;
    this.#wakeAll();
  }

  async #pullWhileWaiting(): Promise<void> {
    const { stream, consumer } = this.#settings;
    // Long enough to spare the servers a request per idle consumer every few milliseconds,
    // short enough that close() does not wait long for it.
    const waitMs = 1_000;
    while (this.#waiting.size > 0 && !this.#closing && this.#prefetched.length === 0) {
      try {
        this.#prefetched = await pull(this.#nc, stream, consumer, { batch: 1, waitMs });
      } catch {
        // The cluster is away: the consumers' next take reports it.
        break;
      }
    }
    // Woken from a pull's answer, never within waitForReady's own call.
    this.#wakeAll();
  }

  #wakeAll(): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const wake of waiting) wake();
  }

  #lease(delivery: Delivery): Lease | undefined {
    const { streamSeq, delivery: attempt, reply, payload, arrivedAtMs } = delivery;
    if (this.#acked.has(streamSeq)) {
      // Acked through this spool, delivered again after a consumer leader failed: ack it again.
      this.#counts.ackedDeliveredAgain += 1;
      this.#nc.publish(reply, "+ACK");
      return undefined;
    }
    // The server's ack wait started when it sent the message, not when a take asked for it:
    // one held since a waiting pull brought it has that much less, and none once it ran out.
    const untilMs = arrivedAtMs + this.#settings.config.leaseMs;
    if (performance.now() >= untilMs) return undefined;
    this.#leased.set(streamSeq, { reply, attempt, untilMs });
    this.#counts.leases += 1;
    return { seq: seq(streamSeq), payload, attempt };
  }

  #holding(messageSeq: Seq): Held {
    const held = this.#leased.get(messageSeq);
    if (held === undefined) throw new NotLeased({ seq: messageSeq, reason: "notLeased" });
    if (performance.now() >= held.untilMs) {
      // The ack wait ran out: the server delivers the message again, to whichever consumer asks.
      this.#leased.delete(messageSeq);
      throw new NotLeased({ seq: messageSeq, reason: "notLeased" });
    }
    return held;
  }

  /** Forgets acked seqs the consumer's ack floor has passed: those cannot come back. */
  #forgetPassedAcks(): void {
    this.#acksSinceCheck = 0;
    const { stream, consumer } = this.#settings;
    this.#jsm.consumers.info(stream, consumer).then(
      (info) => {
        const floor = info.ack_floor.stream_seq;
        for (const acked of this.#acked) if (acked <= floor) this.#acked.delete(acked);
      },
      () => undefined,
    );
  }

  #checkLeaseMs(options: unknown): void {
    const { leaseMs } = checkOptions(options, ["leaseMs"]);
    if (leaseMs === undefined || leaseMs === this.#settings.config.leaseMs) return;
    throw new InvalidArgument({
      argument: "leaseMs",
      message: `leaseMs: a stream's lease is its consumer's ack wait (${this.#settings.config.leaseMs} ms, set by config.leaseMs at open), not ${String(leaseMs)}`,
    });
  }

  #where(): string {
    return `${this.#settings.servers.join(",")}/${this.#settings.stream}`;
  }

  #unavailable(operation: string, error: unknown): ClusterUnavailable {
    return new ClusterUnavailable({
      operation,
      stream: this.#settings.stream,
      reason: reasonOf(error),
      cause: error,
    });
  }
}

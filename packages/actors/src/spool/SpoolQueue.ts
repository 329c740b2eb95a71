/**
 * The consumers' side of a spool (claims 56-61): takes lease the oldest ready messages, and
 * acks, nacks and purges settle them, each change durable in the index file before it is
 * answered; a batch's appends join the queue once its flush completed. Behind `Spool`'s take,
 * ack, nack, dead-letter and message-state methods.
 */
import {
  type ConsumerQueue,
  type IndexEntry,
  NotLeased,
  type PlacedWrite,
  type Seq,
  SpoolClosed,
  type SpoolConfig,
  type Taken,
} from "@spool/core";
import { checkCount, checkDurationMs, checkOptions, checkSeq } from "../internal/Arguments.js";
import type { PayloadReader } from "../internal/PayloadReader.js";
import { RECENT_PAYLOADS_BYTE_SIZE_MAX, RecentPayloads } from "../internal/RecentPayloads.js";
import type { DeadLetterStore } from "./DeadLetterStore.js";
import type { IndexFile } from "./IndexFile.js";

/** A message handed to a consumer. @example const lease = await spool.take() */
export interface Lease {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  /** 1 on the first delivery. */
  readonly attempt: number;
}

/** What became of a message ({@link Spool.messageState}). @example "leased" */
export type MessageState = "queued" | "leased" | "retryWait" | "dead" | "done" | "unknown";

/** A message whose attempts ran out. @example for (const d of await spool.deadLetters()) {} */
export interface DeadLetter {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  readonly attempts: number;
}

/** What a {@link SpoolQueue} works on. @example { dir, config, index, queue, ... } */
export interface SpoolQueueOptions {
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly index: IndexFile;
  readonly queue: ConsumerQueue;
  readonly deadLetterStore: DeadLetterStore;
  readonly reader: PayloadReader;
  readonly clock: () => number;
  /** The highest seq durable at open. */
  readonly lastDurableSeq: number;
  /** Whether the spool is closing: takes are refused from then on. */
  readonly closing: () => boolean;
  /** Reclaims the data segments that settled messages no longer hold. */
  readonly reclaim: () => void;
}

/**
 * The consumer queue API: the core's {@link ConsumerQueue} bookkeeping, made durable through
 * the index file and fed from the data file.
 *
 * @example
 * const [lease] = await queue.takeMany(1);
 */
export class SpoolQueue {
  readonly #options: SpoolQueueOptions;
  readonly #queue: ConsumerQueue;
  readonly #index: IndexFile;
  readonly #deadLetterStore: DeadLetterStore;
  readonly #clock: () => number;
  /**
   * The highest seq whose batch's flush completed (an async batch's asynchronous flush too): the
   * synchronizer's write confirmations raise it.
   */
  #lastDurableSeq: number;
  /**
   * The last seq that was durable when this spool opened: a message at or below it was
   * restored from the files, and its first lease in this open is made durable before it is
   * handed out (see {@link takeMany}).
   */
  readonly #restoredThroughSeq: number;
  /** Acks made durable since open. */
  #acks = 0;
  /** Leases handed out, nacks made durable, and messages made dead letters, since open. */
  #leases = 0;
  #nacks = 0;
  #deadLettered = 0;
  /**
   * The payloads of the latest flushed batches, for takes at the tail; kept only once a
   * consumer has taken (a spool that only appends copies nothing).
   */
  readonly #recent = new RecentPayloads(RECENT_PAYLOADS_BYTE_SIZE_MAX);
  #consuming = false;
  /** Consumer answers that came after their lease had passed to another (see `consume`). */
  #leasesLost = 0;
  /** Consumers waiting for a message to become ready. */
  #readyWaiters: (() => void)[] = [];

  constructor(options: SpoolQueueOptions) {
    this.#options = options;
    this.#queue = options.queue;
    this.#index = options.index;
    this.#deadLetterStore = options.deadLetterStore;
    this.#clock = options.clock;
    this.#lastDurableSeq = options.lastDurableSeq;
    this.#restoredThroughSeq = options.lastDurableSeq;
  }

  /** Acks made durable since open. */
  get acks(): number {
    return this.#acks;
  }

  /** Leases handed out since open (a message taken again counts again). */
  get leases(): number {
    return this.#leases;
  }

  /** Nacks made durable since open (`nack` and `consume`'s nacks, the last attempt's included). */
  get nacks(): number {
    return this.#nacks;
  }

  /**
   * Messages that became dead letters since open, once durable: nacked on their last attempt,
   * or found by a take with their attempts used up (a lease that expired on its last attempt).
   */
  get deadLettered(): number {
    return this.#deadLettered;
  }

  /** Leases that ran out before their consumer answered (see `ConsumerQueue.leasesExpired`). */
  get leasesExpired(): number {
    return this.#queue.leasesExpired;
  }

  /** Whether the spool is closing. */
  closing(): boolean {
    return this.#options.closing();
  }

  /** Consumer answers that came too late: the lease had expired and passed to another. */
  get leasesLost(): number {
    return this.#leasesLost;
  }

  /** Counts a consumer's answer that came after its lease had passed to another. */
  leaseLost(): void {
    this.#leasesLost += 1;
  }

  /** Messages not done, by state (dead letters moved out of reclaimed segments included). */
  messageCounts(): Readonly<Record<"queued" | "leased" | "retryWait" | "dead", number>> {
    const counts = this.#queue.countByState();
    const inQueue = new Set(this.#queue.deadLetters().map((letter) => letter.seq));
    const stored = this.#deadLetterStore.list().filter((letter) => !inQueue.has(letter.seq));
    return { ...counts, dead: counts.dead + stored.length };
  }

  /**
   * Flushed appends become consumable (claim 61: the queue's state follows the data), each
   * batch when its own flush completed: an async batch's at its asynchronous flush, not at a
   * later synchronous one.
   */
  enqueue(writes: readonly PlacedWrite[]): void {
    const nowMs = this.#clock();
    const last = writes.at(-1);
    // Writes come in seq order: the last is the highest.
    if (last !== undefined && last.seq > this.#lastDurableSeq) this.#lastDurableSeq = last.seq;
    if (this.#consuming) this.#recent.remember(writes);
    // Per message only the queue's typed-array columns are written: no object, no map lookup
    // (measured: an object and a map lookup per message cost 8% of throughput at 256 writers).
    for (const write of writes) {
      this.#queue.addFreshFields(
        write.seq,
        write.segment,
        write.offset,
        write.request.payload.byteLength,
        nowMs,
      );
    }
    // As many idle consumers as there are new messages (one for a retry): waking every idle
    // consumer per batch made all of them race for a handful of messages.
    const waking = this.#readyWaiters.splice(0, Math.max(1, writes.length));
    for (const wake of waking) wake();
  }

  /** Calls `wake` once, when a message may have become ready (unless {@link unwait} first). */
  waitForReady(wake: () => void): void {
    this.#readyWaiters.push(wake);
  }

  /** Forgets a `wake` given to {@link waitForReady}. */
  unwait(wake: () => void): void {
    const at = this.#readyWaiters.indexOf(wake);
    if (at >= 0) this.#readyWaiters.splice(at, 1);
  }

  /** Wakes every waiting consumer (the spool closed). */
  wakeAll(): void {
    for (const wake of this.#readyWaiters) wake();
    this.#readyWaiters = [];
  }

  /** Leases up to `count` ready messages, oldest first (see `Spool.takeMany`). */
  async takeMany(count: number, options: { readonly leaseMs?: number } = {}): Promise<Lease[]> {
    if (this.#options.closing()) throw new SpoolClosed({ dir: this.#options.dir });
    checkCount(count, "count");
    const given = checkOptions(options, ["leaseMs"]);
    const leaseMs =
      given.leaseMs === undefined
        ? this.#options.config.leaseMs
        : checkDurationMs(given.leaseMs, "leaseMs", 1);
    const dead: IndexEntry[] = [];
    const taken: Taken[] = [];
    const nowMs = this.#clock();
    while (taken.length < count) {
      const next = this.#queue.take(nowMs, leaseMs, dead);
      if (next === undefined) break;
      taken.push(next);
    }
    const deadWrites = dead.map((entry) => this.#index.write(entry));
    if (dead.length > 0) {
      void Promise.all(deadWrites).then(
        () => {
          this.#deadLettered += dead.length;
          this.#options.reclaim();
        },
        () => undefined,
      );
    }
    // What a lease makes durable: its attempt count, so that a message whose handler crashes the
    // process still runs out of attempts. The first lease of a message appended in this open is
    // not written: after a crash the message is restored as queued with its attempts one short,
    // and its next lease, that of a restored message, is written before it is handed out. So a
    // crash costs at most one uncounted attempt per message, and a message that crashes the
    // process every time still dies, one attempt later; each fresh message saves an awaited
    // index write.
    const leaseWrites: Promise<void>[] = [];
    for (const { message, entry } of taken) {
      if (message.attempts > 1 || message.seq <= this.#restoredThroughSeq) {
        leaseWrites.push(this.#index.write(entry));
      }
    }
    this.#consuming = true;
    const [payloads] = await Promise.all([
      // A first delivery from the copy of the latest batches while it holds them, else from
      // the segment; a retry always from the segment, so a handler that changed the view it was
      // given changes nothing a later delivery sees.
      Promise.all(
        taken.map(
          ({ message }) =>
            (message.attempts === 1 ? this.#recent.get(message.seq) : undefined) ??
            this.#options.reader.read(message),
        ),
      ),
      ...leaseWrites,
      ...deadWrites,
    ]);
    this.#leases += taken.length;
    return taken.map(({ message }, i) => ({
      seq: message.seq,
      payload: payloads[i]!,
      attempt: message.attempts,
    }));
  }

  /** Acknowledges a leased message (see `Spool.ack`). */
  async ack(messageSeq: number): Promise<void> {
    const entry = this.#queue.ack(checkSeq(messageSeq), this.#clock());
    if (typeof entry === "string") throw new NotLeased({ seq: messageSeq, reason: entry });
    await this.#index.write(entry);
    this.#acks += 1;
    this.#options.reclaim();
  }

  /** Gives a leased message back (see `Spool.nack`). */
  async nack(messageSeq: number, options: { readonly retryAfterMs?: number } = {}): Promise<void> {
    const checkedSeq = checkSeq(messageSeq);
    const given = checkOptions(options, ["retryAfterMs"]);
    const retryAfterMs =
      given.retryAfterMs === undefined ? 0 : checkDurationMs(given.retryAfterMs, "retryAfterMs", 0);
    const entry = this.#queue.nack(checkedSeq, this.#clock(), retryAfterMs);
    if (typeof entry === "string") throw new NotLeased({ seq: messageSeq, reason: entry });
    await this.#index.write(entry);
    this.#nacks += 1;
    if (entry.info.state === "dead") {
      this.#deadLettered += 1;
      this.#options.reclaim();
    }
    // A retry due at once is ready for a waiting consumer now.
    if (retryAfterMs === 0) this.enqueue([]);
  }

  /** The dead letters, in seq order (see `Spool.deadLetters`). */
  async deadLetters(): Promise<DeadLetter[]> {
    const letters = this.#queue.deadLetters();
    // A letter's segment may be reclaimed while this reads: its copy is in the store by then.
    const payloads = await Promise.all(
      letters.map((letter) =>
        this.#options.reader.read(letter).catch((error: unknown) => {
          const kept = this.#deadLetterStore.get(letter.seq);
          if (kept === undefined) throw error;
          return kept.payload;
        }),
      ),
    );
    const inSegments = letters.map((letter, i) => ({
      seq: letter.seq,
      payload: payloads[i]!,
      attempts: letter.attempts,
    }));
    // A letter in both (a crash between keeping it and deleting its segment) is listed once.
    const here = new Set<number>(inSegments.map((letter) => letter.seq));
    const stored = this.#deadLetterStore.list().filter((letter) => !here.has(letter.seq));
    return [...inSegments, ...stored].sort((a, b) => a.seq - b.seq);
  }

  /** Marks a dead letter done (see `Spool.purgeDeadLetter`). */
  async purgeDeadLetter(messageSeq: number): Promise<void> {
    const entry = this.#queue.purge(checkSeq(messageSeq), this.#clock());
    if (typeof entry !== "string") {
      await this.#index.write(entry);
      await this.#deadLetterStore.remove(messageSeq);
      this.#options.reclaim();
      return;
    }
    if (!(await this.#deadLetterStore.remove(messageSeq))) {
      throw new NotLeased({ seq: messageSeq, reason: entry });
    }
  }

  /** What became of a message (see `Spool.messageState`). */
  messageState(messageSeq: number): MessageState {
    if (checkSeq(messageSeq) > this.#lastDurableSeq) return "unknown";
    // A dead letter moved out of a reclaimed segment counts as done in the queue: ask first.
    if (this.#deadLetterStore.get(messageSeq) !== undefined) return "dead";
    const state = this.#queue.stateOf(messageSeq);
    if (state !== undefined) return state;
    // Durable, below everything the queue was built with: done before this open, and reclaimed.
    return "done";
  }

  /** Messages not yet done, dead letters excluded: the queue depth. */
  depth(): number {
    return this.#queue.depth;
  }
}

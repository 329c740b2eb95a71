/**
 * The consumers' view of the queue (claims 56-61): which durable messages are ready, leased,
 * waiting for a retry or dead, and the index entry each change writes. Pure bookkeeping, no
 * I/O: the runtime writes the entries this returns through the index file's synchronizer and
 * answers callers once they are durable.
 *
 * Delivery is at least once: a message is ready until acknowledged; a lease hides it for
 * `leaseMs`, after which it is ready again; `nack` makes it wait `retryAfterMs`; a message whose
 * attempts reach `maxAttempts` is dead (a dead letter) instead of being delivered again. Ready
 * messages are taken in sequence order (FIFO by seq).
 */
import type { EntryState, IndexEntry } from "./IndexEntry.js";
import type { ByteOffset, SegmentNumber, Seq } from "./Units.js";

/** Where a message's record lies and when it was appended. @example { seq, segment, offset, payloadByteSize, enqueuedAtMs } */
export interface MessageLocation {
  readonly seq: Seq;
  readonly segment: SegmentNumber;
  readonly offset: ByteOffset;
  readonly payloadByteSize: number;
  readonly enqueuedAtMs: number;
}

/** A message's live state. @example "retryWait" */
export type LiveState = "queued" | "leased" | "retryWait" | "dead";

/** A message the queue tracks (done messages are forgotten). */
export interface TrackedMessage extends MessageLocation {
  state: LiveState;
  /** Deliveries so far (leases handed out). */
  attempts: number;
  /** Lease expiry or retry time, ms; 0 when neither applies. */
  notBeforeMs: number;
  changedAtMs: number;
}

/** A small binary min-heap of (key, seq) pairs, keys fixed when pushed. */
class KeyedHeap {
  readonly #keys: number[] = [];
  readonly #seqs: number[] = [];

  get size(): number {
    return this.#seqs.length;
  }

  push(key: number, seq: number): void {
    this.#keys.push(key);
    this.#seqs.push(seq);
    let at = this.#seqs.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#less(at, parent)) break;
      this.#swap(at, parent);
      at = parent;
    }
  }

  /** The smallest pair's key and seq, or undefined when empty. */
  peekKey(): number | undefined {
    return this.#keys[0];
  }

  peekSeq(): number | undefined {
    return this.#seqs[0];
  }

  pop(): void {
    const last = this.#seqs.length - 1;
    if (last < 0) return;
    this.#swap(0, last);
    this.#keys.pop();
    this.#seqs.pop();
    let at = 0;
    for (;;) {
      const left = at * 2 + 1;
      const right = left + 1;
      let least = at;
      if (left < last && this.#less(left, least)) least = left;
      if (right < last && this.#less(right, least)) least = right;
      if (least === at) return;
      this.#swap(at, least);
      at = least;
    }
  }

  #less(a: number, b: number): boolean {
    const ka = this.#keys[a]!;
    const kb = this.#keys[b]!;
    return ka < kb || (ka === kb && this.#seqs[a]! < this.#seqs[b]!);
  }

  #swap(a: number, b: number): void {
    [this.#keys[a], this.#keys[b]] = [this.#keys[b]!, this.#keys[a]!];
    [this.#seqs[a], this.#seqs[b]] = [this.#seqs[b]!, this.#seqs[a]!];
  }
}

/** What `take` hands out. @example const lease = queue.take(now, 30_000) */
export interface Taken {
  readonly message: TrackedMessage;
  readonly entry: IndexEntry;
}

/** Why `ack` or `nack` cannot apply. @example "notLeased" */
export type ConsumerRefusal = "unknown" | "notLeased";

/**
 * The consumer queue: mutable by design (it runs per message), and every change returns the
 * index entry to persist.
 *
 * @example
 * const queue = new ConsumerQueue(5);
 * queue.add(location, "queued", 0, 0);
 * const taken = queue.take(Date.now(), 30_000);
 */
export class ConsumerQueue {
  readonly #maxAttempts: number;
  readonly #messages = new Map<number, TrackedMessage>();
  // A heap entry is live only while the message is still in the state the heap is for; stale
  // entries are dropped when they surface (no removal from the middle of a heap).
  readonly #ready = new KeyedHeap();
  readonly #waiting = new KeyedHeap();
  readonly #readyMember = new Set<number>();
  #dead = 0;

  constructor(maxAttempts: number) {
    this.#maxAttempts = maxAttempts;
  }

  /** Messages not yet done (queued, leased, waiting or dead). */
  get live(): number {
    return this.#messages.size;
  }

  /** Messages ready or waiting to be delivered again: the queue depth (dead letters excluded). */
  get depth(): number {
    return this.#messages.size - this.#dead;
  }

  /** The state of a tracked message, or undefined once done (or never seen). */
  get(seq: Seq): TrackedMessage | undefined {
    return this.#messages.get(seq);
  }

  /**
   * Tracks a durable message in a restored or initial state. Leased messages restored after a
   * crash come back as queued: their consumer is gone (at-least-once).
   */
  add(
    location: MessageLocation,
    state: EntryState,
    attempts: number,
    notBeforeMs: number,
    changedAtMs = location.enqueuedAtMs,
  ): void {
    if (state === "done" || state === "empty") return;
    const restored: LiveState = state === "leased" ? "queued" : state;
    const message: TrackedMessage = {
      ...location,
      state: restored,
      attempts,
      notBeforeMs: restored === "retryWait" ? notBeforeMs : 0,
      changedAtMs,
    };
    this.#messages.set(location.seq, message);
    if (restored === "queued") this.#makeReady(message);
    else if (restored === "retryWait") this.#waiting.push(message.notBeforeMs, message.seq);
    else if (restored === "dead") this.#dead += 1;
  }

  /**
   * Hands out the lowest ready seq, after moving due retries and expired leases back to ready.
   * A message whose attempts are used up goes to the dead letters instead (returned in
   * `deadLettered` so the runtime persists it). Undefined when nothing is ready.
   */
  take(nowMs: number, leaseMs: number, deadLettered: IndexEntry[] = []): Taken | undefined {
    this.#promoteDue(nowMs);
    for (;;) {
      const seq = this.#ready.peekSeq();
      if (seq === undefined) return undefined;
      this.#ready.pop();
      this.#readyMember.delete(seq);
      const message = this.#messages.get(seq);
      if (message === undefined || message.state !== "queued") continue;
      if (message.attempts >= this.#maxAttempts) {
        deadLettered.push(this.#kill(message, nowMs));
        continue;
      }
      message.state = "leased";
      message.attempts += 1;
      message.notBeforeMs = nowMs + leaseMs;
      message.changedAtMs = nowMs;
      this.#waiting.push(message.notBeforeMs, seq);
      return { message, entry: entryOf(message, "leased") };
    }
  }

  /** Acknowledges a leased message: it is done, and forgotten once its entry is written. */
  ack(seq: Seq, nowMs: number): IndexEntry | ConsumerRefusal {
    const message = this.#messages.get(seq);
    if (message === undefined) return "unknown";
    if (message.state !== "leased") return "notLeased";
    this.#messages.delete(seq);
    message.changedAtMs = nowMs;
    return entryOf(message, "done");
  }

  /** A leased message failed: it waits `retryAfterMs`, or is dead when its attempts are used up. */
  nack(seq: Seq, nowMs: number, retryAfterMs: number): IndexEntry | ConsumerRefusal {
    const message = this.#messages.get(seq);
    if (message === undefined) return "unknown";
    if (message.state !== "leased") return "notLeased";
    if (message.attempts >= this.#maxAttempts) return this.#kill(message, nowMs);
    message.state = "retryWait";
    message.notBeforeMs = nowMs + retryAfterMs;
    message.changedAtMs = nowMs;
    this.#waiting.push(message.notBeforeMs, seq);
    return entryOf(message, "retryWait");
  }

  /** The dead letters, in seq order. */
  deadLetters(): TrackedMessage[] {
    return [...this.#messages.values()]
      .filter((message) => message.state === "dead")
      .sort((a, b) => a.seq - b.seq);
  }

  #kill(message: TrackedMessage, nowMs: number): IndexEntry {
    message.state = "dead";
    message.notBeforeMs = 0;
    message.changedAtMs = nowMs;
    this.#dead += 1;
    return entryOf(message, "dead");
  }

  #makeReady(message: TrackedMessage): void {
    message.state = "queued";
    message.notBeforeMs = 0;
    if (!this.#readyMember.has(message.seq)) {
      this.#readyMember.add(message.seq);
      this.#ready.push(message.seq, message.seq);
    }
  }

  /** Retries whose time has come and leases that expired are ready again. */
  #promoteDue(nowMs: number): void {
    for (;;) {
      const key = this.#waiting.peekKey();
      const seq = this.#waiting.peekSeq();
      if (key === undefined || seq === undefined || key > nowMs) return;
      this.#waiting.pop();
      const message = this.#messages.get(seq);
      // Stale when the message moved on since (acked, nacked again, or leased anew).
      const waiting = message?.state === "leased" || message?.state === "retryWait";
      if (message !== undefined && waiting && message.notBeforeMs === key) {
        this.#makeReady(message);
      }
    }
  }
}

function entryOf(message: TrackedMessage, state: EntryState): IndexEntry {
  return {
    index: {
      seq: message.seq,
      segment: message.segment,
      offset: message.offset,
      payloadByteSize: message.payloadByteSize,
    },
    info: {
      state,
      attempts: message.attempts,
      enqueuedAtMs: message.enqueuedAtMs,
      changedAtMs: message.changedAtMs,
      notBeforeMs: message.notBeforeMs,
    },
  };
}

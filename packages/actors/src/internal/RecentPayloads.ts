/**
 * The payloads of the latest flushed batches, kept in memory so that a consumer at the queue's
 * tail takes a fresh message without reading it back from the segment it was just written to.
 *
 * Measured before this: with 64 consumers near the tail, the read-ahead window (`PayloadReader`)
 * was read before the records it should serve had been written, so takes missed it and read
 * again: 0.71 reads per ack at 256 producers × 64 consumers. A batch's payloads are copied once,
 * when the batch is flushed and before its appends resolve (the caller's buffers are still as
 * they were appended), into one buffer per batch; no object is made per message. Only a
 * message's first delivery is served from it (see `SpoolQueue.takeMany`).
 */
import type { PlacedWrite } from "@spool/core";

/**
 * The bytes of recent payloads a spool keeps for its consumers: 16 MiB holds the backlog of the
 * bench's 256 × 64 load (4,096 messages of 1 KiB) four times over; a consumer further behind
 * reads the segments, sequentially, through the read-ahead window.
 */
export const RECENT_PAYLOADS_BYTE_SIZE_MAX = 16 * 1024 * 1024;

/** One flushed batch's payloads, back to back, and where each starts. */
interface RecentBatch {
  readonly firstSeq: number;
  /** `starts[i]` is where the payload of `firstSeq + i` starts; one more marks the end. */
  readonly starts: Uint32Array;
  readonly bytes: Uint8Array;
}

/**
 * Payloads of recent batches, up to `byteSizeMax` bytes; the oldest batches are forgotten first.
 *
 * @example
 * const recent = new RecentPayloads(16 * 1024 * 1024);
 * recent.remember(writes);
 * recent.get(writes[0].seq); // the first write's payload, or undefined once forgotten
 */
export class RecentPayloads {
  readonly #byteSizeMax: number;
  /** Batches in seq order, from `#head` on (the ones before it are forgotten). */
  #batches: (RecentBatch | undefined)[] = [];
  #head = 0;
  #byteSize = 0;

  constructor(byteSizeMax: number) {
    this.#byteSizeMax = byteSizeMax;
  }

  /** Bytes held now. */
  get byteSize(): number {
    return this.#byteSize;
  }

  /**
   * Keeps a copy of the payloads of `writes` (one flushed batch, in seq order with consecutive
   * seqs); a batch bigger than the whole budget is not kept.
   */
  remember(writes: readonly PlacedWrite[]): void {
    const count = writes.length;
    if (count === 0) return;
    let total = 0;
    for (const write of writes) total += write.request.payload.byteLength;
    if (total > this.#byteSizeMax) return;
    const firstSeq = writes[0]!.seq as number;
    const last = this.#batches.length > this.#head ? this.#batches.at(-1) : undefined;
    // Batches come in seq order; one that does not (it never should) is simply not kept.
    if (last !== undefined && firstSeq <= last.firstSeq + last.starts.length - 2) return;
    const bytes = new Uint8Array(total);
    const starts = new Uint32Array(count + 1);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const payload = writes[i]!.request.payload;
      starts[i] = at;
      bytes.set(payload, at);
      at += payload.byteLength;
    }
    starts[count] = at;
    this.#batches.push({ firstSeq, starts, bytes });
    this.#byteSize += total;
    while (this.#byteSize > this.#byteSizeMax) this.#forgetOldest();
  }

  /**
   * The payload of `seq` if its batch is still held, else undefined: a view of the held copy (a
   * copy per take measured 4% of the whole queue's CPU at 256 × 64), so a consumer that keeps
   * it keeps its batch's copy alive, as a view of the read-ahead window keeps the window.
   */
  get(seq: number): Uint8Array | undefined {
    const batches = this.#batches;
    let low = this.#head;
    let high = batches.length - 1;
    // The last batch whose first seq is at most `seq`.
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (batches[middle]!.firstSeq <= seq) low = middle + 1;
      else high = middle - 1;
    }
    if (high < this.#head) return undefined;
    const batch = batches[high]!;
    const i = seq - batch.firstSeq;
    if (i >= batch.starts.length - 1) return undefined;
    return batch.bytes.subarray(batch.starts[i]!, batch.starts[i + 1]!);
  }

  /** Forgets every batch. */
  clear(): void {
    this.#batches = [];
    this.#head = 0;
    this.#byteSize = 0;
  }

  #forgetOldest(): void {
    const oldest = this.#batches[this.#head];
    if (oldest === undefined) return;
    this.#byteSize -= oldest.bytes.byteLength;
    this.#batches[this.#head] = undefined;
    this.#head += 1;
    // Compact once the forgotten part is half the array, so forgetting costs O(1) amortized.
    if (this.#head * 2 >= this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#head = 0;
    }
  }
}

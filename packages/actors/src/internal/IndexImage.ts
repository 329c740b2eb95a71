/**
 * The index file's segments as they are being written, held in memory: a batch of index entries
 * is one write covering the region from its first entry to its last, and the bytes between its
 * entries come from here instead of being read back from the file before every batch.
 *
 * The copy holds every entry requested so far, flushed or not. A batch's gaps taken from it may
 * carry an entry that another batch is still to write: that entry reaches the disk early, which
 * is harmless (an entry is only ever requested for a message whose record is already durable),
 * and the later batch writes the same bytes or newer ones. Because the gaps no longer depend on
 * what the file holds at the moment a batch is staged, a second batch may be written while the
 * first flushes (the index's synchronizer pipelines as the data's does).
 *
 * A segment is read once, before its first entry is requested, and forgotten only when no entry
 * reserved in it is still waiting for its flush (so a segment read again reads every entry
 * requested before); at most {@link INDEX_IMAGE_SEGMENTS_MAX} are held while none waits.
 */
import { byteOffset, byteSize, type FlushAdapter, type SegmentNumber } from "@spool/core";

/**
 * Index segments held while idle: the tail where acks land and the few behind it where retries
 * and late acks do; each is 4 MiB at the default 65,536 entries.
 */
export const INDEX_IMAGE_SEGMENTS_MAX = 4;

interface HeldSegment {
  readonly bytes: Uint8Array;
  /** Entries requested in it and not yet settled (durable or failed). */
  waiting: number;
  /** When it was last written to, in requests: the least recent idle one is forgotten first. */
  lastUse: number;
}

/**
 * In-memory copies of the index segments being written.
 *
 * @example
 * const image = new IndexImage(adapter, 4 * 1024 * 1024);
 * await image.reserve(segment);
 * encodeIndexEntry(image.slot(segment, offset, 64), 0, entry);
 * image.settled(segment); // once the entry is durable
 */
export class IndexImage {
  readonly #adapter: FlushAdapter;
  readonly #segmentByteSize: number;
  readonly #held = new Map<number, HeldSegment>();
  readonly #loading = new Map<number, Promise<void>>();
  #uses = 0;

  constructor(adapter: FlushAdapter, segmentByteSize: number) {
    this.#adapter = adapter;
    this.#segmentByteSize = segmentByteSize;
  }

  /** Segments held now. */
  get segmentsHeld(): number {
    return this.#held.size;
  }

  /**
   * Reserves `segment` for one entry: it stays held until {@link settled} is called for that
   * entry. Undefined when it was held (reserved now); otherwise a promise that resolves once it
   * is read (from the file, or zeros for a segment not made yet) and reserved.
   */
  reserve(segment: SegmentNumber): Promise<void> | undefined {
    const held = this.#held.get(segment);
    if (held !== undefined) {
      held.waiting += 1;
      held.lastUse = ++this.#uses;
      return undefined;
    }
    let loading = this.#loading.get(segment);
    if (loading === undefined) {
      loading = this.#load(segment).finally(() => this.#loading.delete(segment));
      this.#loading.set(segment, loading);
    }
    // Reserved once read; forgotten in between (it was idle), it is read again.
    return loading.then(() => this.reserve(segment));
  }

  /**
   * The bytes of one slot at `offset` of `segment`, which the caller has {@link reserve}d, as a
   * view to write the entry into.
   */
  slot(segment: SegmentNumber, offset: number, length: number): Uint8Array {
    const held = this.#held.get(segment);
    if (held === undefined) throw new Error(`index segment ${segment} is not reserved`);
    return held.bytes.subarray(offset, offset + length);
  }

  /** An entry reserved in `segment` is durable, or failed: it waits no more. */
  settled(segment: SegmentNumber): void {
    const held = this.#held.get(segment);
    if (held === undefined) return;
    held.waiting -= 1;
    if (held.waiting === 0) this.#forgetIdle();
  }

  /** The held bytes of `segment` from `offset`, as a view; undefined when it is not held. */
  view(segment: SegmentNumber, offset: number, length: number): Uint8Array | undefined {
    return this.#held.get(segment)?.bytes.subarray(offset, offset + length);
  }

  /** Forgets the segments below `segment` (deleted: all their messages are done). */
  forgetBelow(segment: number): void {
    for (const [number, held] of this.#held) {
      if (number < segment && held.waiting === 0) this.#held.delete(number);
    }
  }

  async #load(segment: SegmentNumber): Promise<void> {
    const bytes = new Uint8Array(this.#segmentByteSize);
    const existing = await this.#adapter.listSegments();
    if (existing.includes(segment)) {
      const stored = await this.#adapter.read(
        segment,
        byteOffset(0),
        byteSize(this.#segmentByteSize),
      );
      bytes.set(stored.subarray(0, Math.min(stored.byteLength, bytes.byteLength)));
    }
    this.#held.set(segment, { bytes, waiting: 0, lastUse: ++this.#uses });
    this.#forgetIdle(segment);
  }

  /**
   * Forgets the least recently used idle segments while more than the bound are held (never
   * `keep`, just read for a reservation).
   */
  #forgetIdle(keep?: number): void {
    while (this.#held.size > INDEX_IMAGE_SEGMENTS_MAX) {
      let oldest: number | undefined;
      let oldestUse = Number.POSITIVE_INFINITY;
      for (const [number, held] of this.#held) {
        if (held.waiting === 0 && number !== keep && held.lastUse < oldestUse) {
          oldest = number;
          oldestUse = held.lastUse;
        }
      }
      if (oldest === undefined) return;
      this.#held.delete(oldest);
    }
  }
}

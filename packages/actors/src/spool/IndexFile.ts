/**
 * The index file (claim 60): one 64-byte entry per message, at a slot computed from its
 * sequence number, in preallocated index segments (`index-NNNNNNNNNN.idx`). Every entry write is
 * a positioned write request through its own synchronizer, the same machine as the data file's:
 * entry updates are batched, slots close together share a flush, and an update behind the
 * batch end is parked for the next batch (claims 12-13, 16, 64-66).
 *
 * Ordering across the two files: an entry is only ever written for a message whose record is
 * already durable (consumers only see durable records), so an index update can never be durable
 * before the data record it refers to.
 */
import {
  type AdapterFactory,
  byteOffset,
  byteSize,
  decodeIndexEntry,
  encodeIndexEntry,
  type FlushAdapter,
  INDEX_ENTRY_BYTE_SIZE,
  type IndexEntry,
  type IndexEntryDefect,
  type SegmentNumber,
  type Seq,
  type SpoolConfig,
  type SpoolFailed,
  segmentNumber,
  seq,
  type WriteTarget,
  writerId,
} from "@spool/core";
import { IndexImage } from "../internal/IndexImage.js";
import { Synchronizer } from "../synchronizer/Synchronizer.js";
import { inProcessLock } from "../writers/SharedLock.js";
import { SenderRuntime } from "../writers/Writer.js";

const ZERO_ENTRY = Buffer.alloc(INDEX_ENTRY_BYTE_SIZE);

/** The slot of a message's entry. @example indexSlot(seq(1), 65536) // { seq: 1, segment: 1, offset: 0 } */
export function indexSlot(messageSeq: Seq, entriesPerSegment: number): WriteTarget {
  const ordinal = messageSeq - 1;
  return {
    seq: messageSeq,
    segment: segmentNumber(Math.floor(ordinal / entriesPerSegment) + 1),
    offset: byteOffset((ordinal % entriesPerSegment) * INDEX_ENTRY_BYTE_SIZE),
  };
}

/** What reading one slot found. */
export type SlotContent =
  | { readonly ok: true; readonly entry: IndexEntry }
  | { readonly ok: false; readonly defect: IndexEntryDefect };

/** The index file of one spool. */
export class IndexFile {
  readonly #adapter: FlushAdapter;
  readonly #synchronizer: Synchronizer;
  #onFailure: ((failure: SpoolFailed) => void) | undefined;
  readonly #sender: SenderRuntime;
  readonly #entriesPerSegment: number;
  /** The index segments being written, in memory (see `IndexImage`). */
  readonly #image: IndexImage;

  private constructor(
    adapter: FlushAdapter,
    dir: string,
    config: SpoolConfig,
    clock: () => number,
  ) {
    this.#adapter = adapter;
    this.#entriesPerSegment = config.indexSegmentEntries;
    // The index synchronizer runs the same machine on the index's geometry. Its cursor is
    // unused: every request it takes is positioned.
    const indexConfig: SpoolConfig = {
      ...config,
      segmentByteSize: config.indexSegmentEntries * INDEX_ENTRY_BYTE_SIZE,
      recordPayloadByteSizeMax: INDEX_ENTRY_BYTE_SIZE,
    };
    const cursor = { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) };
    this.#image = new IndexImage(adapter, indexConfig.segmentByteSize);
    // The bytes between a batch's entries come from the image, not from reading the file back:
    // so a batch is staged from what was requested, whatever a batch beside it is flushing, and
    // the index pipelines (a second batch written while the first flushes) as the data does.
    const image = this.#image;
    this.#synchronizer = new Synchronizer({
      dir,
      config: indexConfig,
      adapter,
      cursor,
      clock,
      onFailure: (failure) => this.#onFailure?.(failure),
      gapBytes: (segment, offset, length) => image.view(segment, offset, length),
    });
    this.#sender = new SenderRuntime({
      id: writerId(0),
      dir,
      config: indexConfig,
      lock: inProcessLock(),
      synchronizer: this.#synchronizer,
    });
  }

  /** Opens the index file of the spool in `dir`. */
  static async open(
    factory: AdapterFactory,
    dir: string,
    config: SpoolConfig,
    clock: () => number,
  ): Promise<IndexFile> {
    const adapter = await factory({
      dir,
      segmentByteSize: config.indexSegmentEntries * INDEX_ENTRY_BYTE_SIZE,
      pageByteSize: config.pageByteSize,
      fileKind: "index",
      fileMode: config.fileMode,
      directoryMode: config.directoryMode,
    });
    return new IndexFile(adapter, dir, config, clock);
  }

  /** Writes a message's entry; resolves once it is durable. */
  async write(entry: IndexEntry): Promise<void> {
    await this.#put(indexSlot(entry.index.seq, this.#entriesPerSegment), (bytes) =>
      encodeIndexEntry(bytes, 0, entry),
    );
  }

  /**
   * Writes the slot at `target`, its bytes made by `fill` in the image itself (the request's
   * payload is that view: no buffer per entry, and a batch staged after a newer entry for the
   * same slot carries the newer one); resolves once durable.
   */
  async #put(target: WriteTarget, fill: (bytes: Uint8Array) => void): Promise<void> {
    const reserving = this.#image.reserve(target.segment);
    if (reserving !== undefined) await reserving;
    const bytes = this.#image.slot(target.segment, target.offset, INDEX_ENTRY_BYTE_SIZE);
    fill(bytes);
    try {
      await this.#sender.append(writerId(0), bytes, "flushed", target);
    } finally {
      this.#image.settled(target.segment);
    }
  }

  /**
   * Reads the slots of `fromSeq` through `toSeq`, calling `visit` for each, one index segment
   * read at a time. Segments never written read as empty slots.
   */
  async readSlots(
    fromSeq: number,
    toSeq: number,
    visit: (slotSeq: number, content: SlotContent) => void,
  ): Promise<void> {
    await readIndexSlots(this.#adapter, this.#entriesPerSegment, { fromSeq, toSeq }, visit);
  }

  /**
   * Zeroes the slots of `fromSeq` through `toSeq` that hold anything, durably; returns how many
   * there were. Used on open for entries past the data's end, which a later append at the same
   * place could otherwise be mistaken for.
   */
  async clearSlots(fromSeq: number, toSeq: number): Promise<number> {
    const written = await this.#writtenSlots(fromSeq, toSeq);
    await Promise.all(
      written.map((slotSeq) =>
        this.#put(indexSlot(seq(slotSeq), this.#entriesPerSegment), (bytes) => bytes.fill(0)),
      ),
    );
    return written.length;
  }

  /**
   * The seqs of `fromSeq` through `toSeq` whose slots hold anything: one compare against zeros
   * per index segment when, as usual, none do.
   */
  async #writtenSlots(fromSeq: number, toSeq: number): Promise<number[]> {
    const existing = new Set<number>(await this.#adapter.listSegments());
    const perSegment = this.#entriesPerSegment;
    const written: number[] = [];
    let current = fromSeq;
    while (current <= toSeq) {
      const slot = indexSlot(seq(current), perSegment);
      const last = Math.min(toSeq, (slot.segment as number) * perSegment);
      const length = (last - current + 1) * INDEX_ENTRY_BYTE_SIZE;
      if (existing.has(slot.segment)) {
        const bytes = await this.#adapter.read(slot.segment, slot.offset, byteSize(length));
        const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (!view.equals(Buffer.alloc(view.byteLength))) {
          for (let at = 0; at < view.byteLength; at += INDEX_ENTRY_BYTE_SIZE) {
            const entry = view.subarray(at, at + INDEX_ENTRY_BYTE_SIZE);
            if (!entry.equals(ZERO_ENTRY)) written.push(current + at / INDEX_ENTRY_BYTE_SIZE);
          }
        }
      }
      current = last + 1;
    }
    return written;
  }

  /** Deletes index segments whose every slot is below `messageSeq`. */
  async removeSegmentsBelow(messageSeq: number): Promise<void> {
    for (const segment of await this.#adapter.listSegments()) {
      if (segment * this.#entriesPerSegment < messageSeq) {
        this.#image.forgetBelow(segment + 1);
        await this.#adapter.removeSegment(segment);
      }
    }
  }

  /** Index write counters. */
  stats() {
    return this.#synchronizer.stats();
  }

  /** The sender, so a spool's close can drain entry writes already made. */
  get sender(): SenderRuntime {
    return this.#sender;
  }

  /**
   * Calls `listener` if the index's synchronizer stops on a fault (its pending entry writes
   * have failed with the {@link SpoolFailed} by then).
   */
  whenFailed(listener: (failure: SpoolFailed) => void): void {
    this.#onFailure = listener;
  }

  /** Stops the index's synchronizer with a failure of the spool's (see `Synchronizer.fail`). */
  failWith(failure: SpoolFailed): void {
    this.#synchronizer.failWith(failure);
  }

  /** Drains entry writes already made, then closes the index segments. */
  async close(): Promise<void> {
    this.#sender.flushOutbox();
    await this.#synchronizer.close();
    await this.#adapter.close();
  }
}

/**
 * Reads the slots of `fromSeq` through `toSeq` of the index file `adapter` opens, calling
 * `visit` for each, one index segment read at a time; segments never written read as empty.
 * Only reads: the read-only tools (`spool verify`) use it without opening an `IndexFile`.
 *
 * @example
 * await readIndexSlots(adapter, 65536, { fromSeq: 1, toSeq: 10 }, (seq, content) => {});
 */
export async function readIndexSlots(
  adapter: FlushAdapter,
  perSegment: number,
  range: { readonly fromSeq: number; readonly toSeq: number },
  visit: (slotSeq: number, content: SlotContent) => void,
): Promise<void> {
  const existing = new Set<number>(await adapter.listSegments());
  let current = range.fromSeq;
  while (current <= range.toSeq) {
    const slot = indexSlot(seq(current), perSegment);
    const last = Math.min(range.toSeq, (slot.segment as number) * perSegment);
    const count = last - current + 1;
    const bytes = existing.has(slot.segment)
      ? await adapter.read(
          slot.segment as SegmentNumber,
          slot.offset,
          byteSize(count * INDEX_ENTRY_BYTE_SIZE),
        )
      : new Uint8Array(count * INDEX_ENTRY_BYTE_SIZE);
    for (let i = 0; i < count; i++) {
      const at = i * INDEX_ENTRY_BYTE_SIZE;
      visit(
        current + i,
        at + INDEX_ENTRY_BYTE_SIZE <= bytes.byteLength
          ? decodeIndexEntry(bytes, at)
          : { ok: false, defect: "empty" },
      );
    }
    current = last + 1;
  }
}

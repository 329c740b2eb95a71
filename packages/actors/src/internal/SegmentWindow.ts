/**
 * A window onto one segment's bytes, read a chunk at a time, so that walking a segment (the
 * damage survey of LogDamage.ts) never holds a buffer the size of the segment.
 */
import { byteOffset, byteSize, type FlushAdapter, type SegmentNumber } from "@spool/core";

// 1 MiB: the unit the scanner and cutTail read in too; small against a 64 MiB segment.
export const WINDOW_CHUNK_BYTE_SIZE = 1024 * 1024;
const ZERO_BLOCK = Buffer.alloc(4096);

/**
 * The bytes of one segment around a position, re-read only when a request leaves them.
 *
 * @example
 * const { bytes, at } = await window.cover(offset, 40);
 * const decoded = decodeRecord(bytes, at);
 */
export class SegmentWindow {
  readonly #adapter: FlushAdapter;
  readonly #segment: SegmentNumber;
  readonly #end: number;
  #start = 0;
  #bytes: Uint8Array = new Uint8Array(0);

  /** The segment's size: where its bytes end. */
  get end(): number {
    return this.#end;
  }

  constructor(adapter: FlushAdapter, segment: SegmentNumber, segmentByteSize: number) {
    this.#adapter = adapter;
    this.#segment = segment;
    this.#end = segmentByteSize;
  }

  /**
   * Bytes holding [offset, offset + length) of the segment (cut at its end), and the index of
   * `offset` in them. A request larger than a chunk (one long record) is read whole.
   */
  async cover(offset: number, length: number): Promise<{ bytes: Uint8Array; at: number }> {
    // Past the segment's end there is nothing to read.
    if (offset >= this.#end) return { bytes: new Uint8Array(0), at: 0 };
    const wanted = Math.min(offset + length, this.#end);
    const held = this.#start + this.#bytes.byteLength;
    if (offset < this.#start || wanted > held) {
      const size = Math.min(Math.max(WINDOW_CHUNK_BYTE_SIZE, wanted - offset), this.#end - offset);
      this.#bytes = await this.#adapter.read(this.#segment, byteOffset(offset), byteSize(size));
      this.#start = offset;
    }
    return { bytes: this.#bytes, at: offset - this.#start };
  }
}

/**
 * The offset of the last non-zero byte of [from, to) in a segment, or -1 when all are zero:
 * read a chunk at a time from the end, whole 4 KiB blocks of zeros compared natively.
 *
 * @example
 * if ((await lastNonZeroOffset(adapter, segment, from, size)) < 0) return; // only zeros
 */
export async function lastNonZeroOffset(
  adapter: FlushAdapter,
  segment: SegmentNumber,
  from: number,
  to: number,
): Promise<number> {
  for (let chunkEnd = to; chunkEnd > from; ) {
    const chunkStart = Math.max(from, chunkEnd - WINDOW_CHUNK_BYTE_SIZE);
    const bytes = await adapter.read(
      segment,
      byteOffset(chunkStart),
      byteSize(chunkEnd - chunkStart),
    );
    const last = lastNonZeroIndex(bytes);
    if (last >= 0) return chunkStart + last;
    chunkEnd = chunkStart;
  }
  return -1;
}

/** The index of the last non-zero byte, or -1. */
function lastNonZeroIndex(bytes: Uint8Array): number {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = view.byteLength;
  while (end > 0) {
    const start = Math.max(0, end - ZERO_BLOCK.byteLength);
    if (!view.subarray(start, end).equals(ZERO_BLOCK.subarray(0, end - start))) break;
    end = start;
  }
  let last = end - 1;
  while (last >= 0 && bytes[last] === 0) last -= 1;
  return last;
}

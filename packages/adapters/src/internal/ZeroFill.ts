/**
 * Zero-filling a new segment (claims 62-63: a record followed by zeros is the log's end): in
 * 1 MiB writes through libuv's pool, or one page per write for a segment written through a map.
 */
import { writeSync } from "node:fs";
import type * as fs from "node:fs/promises";

// 1 MiB zero writes: past about 1 MiB per write, sequential bandwidth here is flat (measured).
const ZERO_CHUNK_BYTE_SIZE = 1024 * 1024;

/**
 * Page-sized zero writes go in slices of this many, each slice synchronous on the calling
 * thread and the slices a turn of the event loop apart: 16 writes of 4 KiB took about 50 µs
 * here (256 MiB in 206 ms), no longer than encoding a batch, where one pool round trip per
 * page would cost the thread more (a callback per 4 KiB) and take three times as long.
 */
const ZERO_SLICE_WRITE_COUNT = 16;

/** Whether the fill was given up (the segment is not needed after all). */
export interface ZeroFilling {
  readonly cancelled: boolean;
}

/** Zero-fills the first `byteSize` bytes of `handle` in 1 MiB writes. */
export async function zeroFill(
  handle: fs.FileHandle,
  byteSize: number,
  zeroing: ZeroFilling,
): Promise<void> {
  const zeros = Buffer.alloc(ZERO_CHUNK_BYTE_SIZE);
  for (let at = 0; at < byteSize; at += zeros.byteLength) {
    if (zeroing.cancelled) return;
    await handle.write(zeros, 0, Math.min(zeros.byteLength, byteSize - at), at);
  }
}

/**
 * Zero-fills one page per write (see `SegmentDirectoryOptions.zeroFillPageByteSize`), in short
 * synchronous slices a turn of the event loop apart. A short write is retried from where it
 * stopped.
 */
export async function zeroFillPages(
  handle: fs.FileHandle,
  byteSize: number,
  zeroing: ZeroFilling,
  pageByteSize: number,
): Promise<void> {
  const zeros = Buffer.alloc(pageByteSize);
  let at = 0;
  while (at < byteSize) {
    if (zeroing.cancelled) return;
    for (let count = 0; count < ZERO_SLICE_WRITE_COUNT && at < byteSize; count++) {
      const length = Math.min(pageByteSize - (at % pageByteSize), byteSize - at);
      at += writeSync(handle.fd, zeros, 0, length, at);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * The `file` adapter: the batch is staged in memory, written with one positional write, and
 * flushed with fdatasync. No mmap.
 */
import { writeSync } from "node:fs";
import {
  type AdapterFactory,
  assert,
  type ByteOffset,
  type ByteSize,
  ConfigInvalid,
  type FlushAdapter,
  FlushFailed,
  type FlushMode,
  InvariantViolation,
  type Region,
  type SegmentNumber,
} from "@spool/core";
import { type BlockingFlushes, DirectoryAdapter } from "./internal/DirectoryAdapter.js";
import { SegmentDirectory } from "./internal/SegmentDirectory.js";
import { flushing } from "./internal/Storage.js";

// 256 KiB: copying that much into the page cache takes well under 100 µs, about one thread-pool
// round trip; above it the copy moves to the pool.
const SYNC_WRITE_BYTE_SIZE_MAX = 256 * 1024;

/** Options of the file adapter. @example { blockingFlushByteSizeMax: 16 * 1024 } */
export interface FileAdapterOptions {
  /**
   * A synchronous flush of at most this many bytes, with no other flush of this adapter in
   * flight, calls fdatasync on the spool's thread instead of libuv's pool: a lone writer's
   * appends come back sooner and with a shorter tail, but the thread's event loop waits for
   * the disk during each such flush (everything else on it, sockets and timers included).
   * 0 (the default) never blocks. Worth it where the spool has its thread to itself
   * (`openSpoolThread`) or where nothing else on the loop is latency-sensitive.
   */
  readonly blockingFlushByteSizeMax?: number;
  /**
   * A blocking flush that took longer than this (20 ms by default: a healthy flush here takes
   * 0.2-0.5 ms, its slowest in a thousand a few) sends the flushes of the next second through
   * the pool, two seconds after a second slow one in a row, and so on up to a minute: a
   * struggling disk stalls the event loop now and then, not at every flush. `Infinity` never
   * pauses.
   */
  readonly blockingFlushSlowMs?: number;
}

/** How long blocking flushes pause after a slow one, at first. @example BLOCKING_FLUSH_PAUSE_MS === 1000 */
export const BLOCKING_FLUSH_PAUSE_MS = 1000;
const BLOCKING_FLUSH_PAUSE_MS_MAX = 60_000;

// Sizes are whole numbers of bytes; the slowness bound may be Infinity (never pause).
function nonNegative(
  field: keyof FileAdapterOptions,
  value: number,
  kind: "integer" | "number",
): number {
  const whole = kind === "number" || Number.isSafeInteger(value);
  if (Number.isNaN(value) || value < 0 || !whole) {
    throw new ConfigInvalid({
      field,
      message: `${field} must be a non-negative ${kind}: ${value}`,
    });
  }
  return value;
}

/**
 * A factory for the pwrite + fdatasync adapter.
 *
 * @example
 * const spool = await openSpool({ dir: "./spool-data", adapter: fileAdapter() });
 */
export function fileAdapter(options: FileAdapterOptions = {}): AdapterFactory {
  const blocking: BlockingFlushes = {
    byteSizeMax: nonNegative(
      "blockingFlushByteSizeMax",
      options.blockingFlushByteSizeMax ?? 0,
      "integer",
    ),
    slowMs: nonNegative("blockingFlushSlowMs", options.blockingFlushSlowMs ?? 20, "number"),
    pauseMs: BLOCKING_FLUSH_PAUSE_MS,
    pauseMsMax: BLOCKING_FLUSH_PAUSE_MS_MAX,
  };
  return async (adapterOptions) =>
    new FileAdapter(
      await SegmentDirectory.open(adapterOptions, { sparseWhenNeeded: true }),
      blocking,
    );
}

class FileAdapter extends DirectoryAdapter implements FlushAdapter {
  readonly name = "file";
  // Each flush beside another goes through the segment's second open file (DirectoryAdapter).
  readonly concurrentFlushes = true;
  // The batch file of claims 45-46 for this adapter: one reusable staging buffer.
  #staging: Buffer = Buffer.alloc(64 * 1024);
  #stagedRegion: Region | undefined;

  isMapped(segment: SegmentNumber): boolean {
    return this.directory.openHandle(segment) !== undefined;
  }
  async map(segment: SegmentNumber): Promise<void> {
    await this.directory.handle(segment);
  }

  stage(region: Region): Uint8Array {
    if (this.#staging.byteLength < region.byteSize) {
      // Grow by doubling so a run of growing batches reallocates O(log n) times.
      let size = this.#staging.byteLength;
      while (size < region.byteSize) size *= 2;
      this.#staging = Buffer.alloc(size);
    }
    this.#stagedRegion = region;
    return this.#staging.subarray(0, region.byteSize);
  }

  async write(region: Region): Promise<void> {
    assert(this.#stagedRegion === region, "write() must follow stage() of the same region");
    const handle = this.directory.openHandle(region.segment);
    if (handle === undefined) {
      throw new InvariantViolation({ message: `segment ${region.segment} is not open` });
    }
    const file = this.directory.fileName(region.segment);
    await flushing(file, region.offset, region.byteSize, async () => {
      // A small batch is copied into the page cache on this thread (a few microseconds),
      // sparing a round trip through libuv's pool; a large one goes to the pool so a multi-MiB
      // copy never stalls the event loop.
      const bytesWritten =
        region.byteSize <= SYNC_WRITE_BYTE_SIZE_MAX
          ? writeSync(handle.fd, this.#staging, 0, region.byteSize, region.offset)
          : (await handle.write(this.#staging, 0, region.byteSize, region.offset)).bytesWritten;
      if (bytesWritten !== region.byteSize) {
        // An operating failure (a full disk, a file size limit), reported as a failed flush;
        // pwrite gives no errno for the bytes it left out.
        const { offset, byteSize } = region;
        const cause = `short write: ${bytesWritten}`;
        throw new FlushFailed({ file, offset, byteSize, code: "UNKNOWN", cause });
      }
    });
  }

  flush(region: Region, mode: FlushMode): Promise<void> {
    // With no asynchronous flush to settle, the fdatasync is issued within this call.
    if (!this.hasAsyncFlush()) return this.datasync(region, mode);
    return this.settleAsyncFlush(region).then(() => this.datasync(region, mode));
  }

  whenFlushed(): Promise<void> {
    return this.asyncFlushInFlight() ?? Promise.resolve();
  }

  read(segment: SegmentNumber, offset: ByteOffset, byteSize: ByteSize): Promise<Uint8Array> {
    return this.directory.read(segment, offset, byteSize);
  }

  close(): Promise<void> {
    return this.closeDirectory();
  }
}

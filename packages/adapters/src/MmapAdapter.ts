/**
 * The `mmap` adapter (claims 15, 68): each segment is mapped whole, shared and writable, when
 * the first batch reaches it; the synchronizer encodes the batch straight into the mapped
 * window (the map is the batch file of claims 45-46: no copy), and the flush persists it. Two
 * batches may be on the disk at once (pipelining), as with the file adapter.
 *
 * Two flush methods. `fdatasync` (the default): fdatasync on the segment's descriptor also
 * persists pages dirtied through a MAP_SHARED map, and runs on libuv's thread pool, so the
 * event loop keeps gathering the next batch meanwhile. `msync`: msync(MS_SYNC) of the batch's
 * pages, which blocks the JavaScript thread for the whole flush (about 1 ms for one 4 KiB page
 * here, 2.8 times write + fdatasync). `npm run bench` measures both.
 *
 * Its segments are zero-filled a page per write (SegmentDirectory): a store through the map
 * dirties the whole page-cache folio it faults on, and a segment zero-filled in 1 MiB writes
 * is cached in folios of up to 1 MiB, so every flush wrote about 1 MiB whatever the batch
 * (measured: 1,042 KiB per 17 KiB batch, a third of the file adapter's rate). A segment
 * cached in large folios by someone else (reopened cold and read back by recovery, or
 * zero-filled by the file adapter) still writes whole folios until the next segment.
 */
import type {
  AdapterFactory,
  ByteOffset,
  ByteSize,
  FlushAdapter,
  FlushMode,
  Region,
  SegmentNumber,
} from "@spool/core";
import { ConfigInvalid, InvariantViolation } from "@spool/core";
import { DirectoryAdapter } from "./internal/DirectoryAdapter.js";
import { mapShared, msync, systemPageByteSize } from "./internal/native.js";
import { SegmentDirectory } from "./internal/SegmentDirectory.js";
import { flushing, storage } from "./internal/Storage.js";

/** How the mmap adapter flushes a batch. @example const method: MmapFlushMethod = "fdatasync" */
export type MmapFlushMethod = "fdatasync" | "msync";

/** Options of the mmap adapter. @example { flushMethod: "msync" } */
export interface MmapAdapterOptions {
  readonly flushMethod?: MmapFlushMethod;
}

/**
 * A factory for the mmap adapter.
 *
 * @example
 * const spool = await openSpool({ dir: "./spool-data", adapter: mmapAdapter({ flushMethod: "fdatasync" }) });
 */
export function mmapAdapter(options: MmapAdapterOptions = {}): AdapterFactory {
  const flushMethod = options.flushMethod ?? "fdatasync";
  return async (adapterOptions) => {
    if (adapterOptions.segmentByteSize > MAP_BYTE_SIZE_MAX) {
      throw new ConfigInvalid({
        field: "segmentByteSize",
        message: `segmentByteSize ${adapterOptions.segmentByteSize} is more than the mmap adapter can map (${MAP_BYTE_SIZE_MAX})`,
      });
    }
    return new MmapAdapter(
      await SegmentDirectory.open(adapterOptions, { zeroFillPageByteSize: systemPageByteSize }),
      flushMethod,
      systemPageByteSize,
    );
  };
}

// mmap-io takes the length as a signed 32-bit int: a 2 GiB map fails inside the addon with a
// bare "mmap failed, 12" (measured here), so larger segments are refused up front.
const MAP_BYTE_SIZE_MAX = 2 ** 31 - 1;

class MmapAdapter extends DirectoryAdapter implements FlushAdapter {
  readonly name: string;
  readonly #flushMethod: MmapFlushMethod;
  readonly #pageByteSize: number;
  readonly #maps = new Map<SegmentNumber, Buffer>();

  constructor(directory: SegmentDirectory, flushMethod: MmapFlushMethod, pageByteSize: number) {
    super(directory);
    this.#flushMethod = flushMethod;
    this.#pageByteSize = pageByteSize;
    this.name = `mmap-${flushMethod}`;
  }

  protected override forget(segment: SegmentNumber): void {
    // mmap-io unmaps a region when its Buffer is garbage-collected.
    this.#maps.delete(segment);
  }

  isMapped(segment: SegmentNumber): boolean {
    return this.#maps.has(segment);
  }

  async map(segment: SegmentNumber): Promise<void> {
    if (this.#maps.has(segment)) return;
    const handle = await this.directory.handle(segment);
    const { size } = await storage("stat", this.directory.fileName(segment), () => handle.stat());
    const mapped = await storage("map", this.directory.fileName(segment), async () =>
      mapShared(handle.fd, size),
    );
    this.#maps.set(segment, mapped);
  }

  #mapOf(segment: SegmentNumber): Buffer {
    const mapped = this.#maps.get(segment);
    if (mapped === undefined) {
      throw new InvariantViolation({ message: `segment ${segment} is not mapped` });
    }
    return mapped;
  }

  /**
   * Two batches on the disk are as safe through the map as through pwrite: batch N+1 is staged
   * in the map after N's last byte (stage hands out disjoint windows, and write has nothing to
   * read), so a writeback of N that catches a page N+1 is being encoded into writes N's bytes
   * of it unchanged, and the page, dirty again, goes out with N+1's flush. A record of N+1
   * caught half-encoded is a torn tail, within the two batches the tear rule allows
   * (UnflushedBound.ts). The page cache holds what pwrite would have left there, page by page.
   */
  readonly pipelining = true;
  // No concurrentFlushes: with two fdatasyncs at once (through the segment's second open file,
  // as the file adapter does) batches shrank to a third of the 256 writers instead of a half
  // and p50 doubled: 24,000-53,000 msgs/s against 40,000-116,000 with one flush at a time
  // (interleaved, this disk). msync could not anyway: it reports through the map's one file.

  stage(region: Region): Uint8Array {
    return this.#mapOf(region.segment).subarray(region.offset, region.offset + region.byteSize);
  }

  async write(region: Region): Promise<void> {
    // The records were encoded through the map: they are in the page cache already.
    this.#mapOf(region.segment);
  }

  flush(region: Region, mode: FlushMode): Promise<void> {
    if (this.#flushMethod === "fdatasync") {
      // With no asynchronous flush to settle, the fdatasync is issued within this call.
      if (!this.hasAsyncFlush()) return this.datasync(region, mode);
      return this.settleAsyncFlush(region).then(() => this.datasync(region, mode));
    }
    return this.settleAsyncFlush(region).then(() => this.#msync(region, mode));
  }

  async #msync(region: Region, mode: FlushMode): Promise<void> {
    const mapped = this.#mapOf(region.segment);
    // msync takes addresses aligned to the system's page (not the configured one, which may be
    // smaller): round the start down and the end up.
    const start = Math.floor(region.offset / this.#pageByteSize) * this.#pageByteSize;
    const end = Math.min(
      mapped.byteLength,
      Math.ceil((region.offset + region.byteSize) / this.#pageByteSize) * this.#pageByteSize,
    );
    await flushing(
      this.directory.fileName(region.segment),
      region.offset,
      region.byteSize,
      async () => msync(mapped, start, end - start, mode === "sync"),
    );
  }

  whenFlushed(): Promise<void> | null {
    // An asynchronous msync (MS_ASYNC) only schedules writeback: nothing says when it is done.
    if (this.#flushMethod === "msync") return null;
    return this.asyncFlushInFlight() ?? Promise.resolve();
  }

  async read(segment: SegmentNumber, offset: ByteOffset, byteSize: ByteSize): Promise<Uint8Array> {
    const mapped = this.#maps.get(segment);
    if (mapped === undefined) return this.directory.read(segment, offset, byteSize);
    return Uint8Array.prototype.slice.call(mapped, offset, offset + byteSize);
  }

  async close(): Promise<void> {
    // mmap-io unmaps a region when its Buffer is garbage-collected; dropping the references
    // here and closing the descriptors is all that can be done from JavaScript.
    this.#maps.clear();
    await this.closeDirectory();
  }
}

/**
 * The `mmap` adapter (claims 15, 68): each segment is mapped whole, shared and writable, when
 * the first batch reaches it; the synchronizer encodes the batch straight into the mapped
 * window (the map is the batch file of claims 45-46), and the flush persists it.
 *
 * Two flush methods. `fdatasync` (the default): fdatasync on the segment's descriptor also
 * persists pages dirtied through a MAP_SHARED map, and runs on libuv's thread pool, so the
 * event loop keeps gathering the next batch meanwhile. `msync`: msync(MS_SYNC) of the batch's
 * pages, which blocks the JavaScript thread for the whole flush (about 1 ms for one 4 KiB page
 * here, 2.8 times write + fdatasync). `npm run bench` measures both.
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
import { flushing, SegmentDirectory, storage } from "./internal/SegmentDirectory.js";

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

  // Measured here at 256 writers: 56-65k msgs/s with one batch on the disk, 42-52k with two.
  // A batch encoded through the map while the one before it flushes writes into pages being
  // written back: each such write fault waits on the kernel's journal and writeback.
  readonly pipelining = false;

  stage(region: Region): Uint8Array {
    return this.#mapOf(region.segment).subarray(region.offset, region.offset + region.byteSize);
  }

  async write(region: Region): Promise<void> {
    // The records were encoded through the map: they are in the page cache already.
    this.#mapOf(region.segment);
  }

  async flush(region: Region, mode: FlushMode): Promise<void> {
    await this.settleAsyncFlush(region);
    if (this.#flushMethod === "fdatasync") return this.datasync(region, mode);
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

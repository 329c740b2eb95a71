/**
 * What the file and mmap adapters share: the directory (manifest, segments, pre-zeroing) and
 * fdatasync on a segment's descriptor, synchronous or asynchronous. An asynchronous flush that
 * fails makes the next flush fail: its pages may be lost.
 */
import { fdatasyncSync } from "node:fs";
import type { FlushMode, Region, SegmentNumber } from "@spool/core";
import { flushing, type SegmentDirectory } from "./SegmentDirectory.js";

export abstract class DirectoryAdapter {
  protected readonly directory: SegmentDirectory;
  #asyncFlush: Promise<void> | undefined;
  /** Flushes running on each segment's first open file. */
  readonly #flushing = new Map<SegmentNumber, number>();
  /** Synchronous flushes of up to this many bytes, alone on the disk, block this thread. */
  readonly #blockingFlushByteSizeMax: number;

  constructor(directory: SegmentDirectory, blockingFlushByteSizeMax = 0) {
    this.directory = directory;
    this.#blockingFlushByteSizeMax = blockingFlushByteSizeMax;
  }

  readManifest(name?: string): Promise<string | null> {
    return this.directory.readManifest(name);
  }
  writeManifest(text: string, name?: string): Promise<void> {
    return this.directory.writeManifest(text, name);
  }
  listSegments(): Promise<readonly SegmentNumber[]> {
    return this.directory.listSegments();
  }
  removeSegment(segment: SegmentNumber): Promise<void> {
    this.forget(segment);
    return this.directory.remove(segment);
  }
  /** Drops what an adapter holds for a segment (a map) before the file goes. */
  protected forget(_segment: SegmentNumber): void {}
  prepareSegment(segment: SegmentNumber): Promise<void> {
    return this.directory.prepare(segment);
  }

  /** Whether an asynchronous flush is still to be settled by the next flush. */
  protected hasAsyncFlush(): boolean {
    return this.#asyncFlush !== undefined;
  }

  /** Waits for an earlier asynchronous flush; its failure fails this flush of `region`. */
  protected async settleAsyncFlush(region: Region): Promise<void> {
    const earlier = this.#asyncFlush;
    this.#asyncFlush = undefined;
    if (earlier === undefined) return;
    await flushing(
      this.directory.fileName(region.segment),
      region.offset,
      region.byteSize,
      () => earlier,
    );
  }

  /** fdatasync of the region's segment: awaited for `sync`, started and tracked for `async`. */
  protected async datasync(region: Region, mode: FlushMode): Promise<void> {
    const { segment } = region;
    const first = this.directory.openHandle(segment);
    if (first === undefined) throw new Error(`segment ${segment} is not open`);
    // A flush beside another goes through the segment's second open file, so each one sees a
    // failed writeback (Linux reports one once per open file). At most two run at once.
    const busy = this.#flushing.get(segment) ?? 0;
    const handle = busy === 0 ? first : (this.directory.flushHandle(segment) ?? first);
    if (handle === first) this.#flushing.set(segment, busy + 1);
    const file = this.directory.fileName(segment);
    // A small synchronous flush with no other on this segment may run on this thread: no
    // round trip through libuv's pool, at the cost of the event loop waiting for the disk.
    const blocking =
      mode === "sync" && busy === 0 && region.byteSize <= this.#blockingFlushByteSizeMax;
    const flushed = flushing(
      file,
      region.offset,
      region.byteSize,
      blocking ? async () => fdatasyncSync(handle.fd) : () => handle.datasync(),
    );
    if (handle === first) {
      const done = () => {
        const left = (this.#flushing.get(segment) ?? 1) - 1;
        if (left === 0) this.#flushing.delete(segment);
        else this.#flushing.set(segment, left);
      };
      flushed.then(done, done);
    }
    if (mode === "sync") return flushed;
    flushed.catch(() => undefined);
    this.#asyncFlush = flushed;
  }

  /** Waits for an asynchronous flush in progress, then closes every segment. */
  protected async closeDirectory(): Promise<void> {
    await this.#asyncFlush?.catch(() => undefined);
    await this.directory.close();
  }
}

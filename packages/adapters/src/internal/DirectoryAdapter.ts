/**
 * What the file and mmap adapters share: the directory (manifest, segments, pre-zeroing) and
 * fdatasync on a segment's descriptor, synchronous or asynchronous. An asynchronous flush that
 * fails makes the next flush fail: its pages may be lost.
 */
import { fdatasyncSync } from "node:fs";
import {
  type FlushMode,
  InvariantViolation,
  type Region,
  type SegmentNumber,
  type SegmentsPrepared,
} from "@spool/core";
import type { SegmentDirectory } from "./SegmentDirectory.js";
import { flushing } from "./Storage.js";

/** When a flush may block its thread (see `FileAdapterOptions`). */
export interface BlockingFlushes {
  readonly byteSizeMax: number;
  /**
   * A blocking flush slower than this pauses blocking flushes for `pauseMs`, twice as long
   * after each further slow one (up to `pauseMsMax`); a fast one resets the pause.
   */
  readonly slowMs: number;
  readonly pauseMs: number;
  readonly pauseMsMax: number;
}

const NO_BLOCKING_FLUSHES: BlockingFlushes = {
  byteSizeMax: 0,
  slowMs: 0,
  pauseMs: 0,
  pauseMsMax: 0,
};

export abstract class DirectoryAdapter {
  protected readonly directory: SegmentDirectory;
  #asyncFlush: Promise<void> | undefined;
  /** Flushes running on each segment's first open file. */
  readonly #flushing = new Map<SegmentNumber, number>();
  /** Flushes running on any open file of any segment. */
  #flushesInFlight = 0;
  /** Synchronous flushes of up to this many bytes, alone on the disk, block this thread. */
  readonly #blocking: BlockingFlushes;
  /** Until when flushes go through libuv's pool after a slow blocking one. */
  #blockingPausedUntilMs = 0;
  /** The pause the next slow blocking flush starts. */
  #blockingPauseMs: number;
  #blockingFlushCount = 0;

  constructor(directory: SegmentDirectory, blocking: BlockingFlushes = NO_BLOCKING_FLUSHES) {
    this.directory = directory;
    this.#blocking = blocking;
    this.#blockingPauseMs = blocking.pauseMs;
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
  recycleSegment(segment: SegmentNumber): Promise<void> {
    this.forget(segment);
    return this.directory.recycle(segment);
  }
  segmentsPrepared(): SegmentsPrepared {
    return { ...this.directory.prepared };
  }
  /** Drops what an adapter holds for a segment (a map) before the file goes. */
  protected forget(_segment: SegmentNumber): void {}
  prepareSegment(segment: SegmentNumber): Promise<void> {
    return this.directory.prepare(segment);
  }

  /** How many flushes ran on the calling thread (`blockingFlushByteSizeMax`), for tests and probes. */
  get blockingFlushes(): number {
    return this.#blockingFlushCount;
  }

  /** Whether an asynchronous flush is still to be settled by the next flush. */
  protected hasAsyncFlush(): boolean {
    return this.#asyncFlush !== undefined;
  }

  /** The asynchronous fdatasync started last and not yet settled by a later flush, if any. */
  protected asyncFlushInFlight(): Promise<void> | undefined {
    return this.#asyncFlush;
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
    if (first === undefined) {
      throw new InvariantViolation({ message: `segment ${segment} is not open` });
    }
    // A flush beside another goes through the segment's second open file, so each one sees a
    // failed writeback (Linux reports one once per open file). At most two run at once.
    const busy = this.#flushing.get(segment) ?? 0;
    const handle = busy === 0 ? first : (this.directory.flushHandle(segment) ?? first);
    if (handle === first) this.#flushing.set(segment, busy + 1);
    const file = this.directory.fileName(segment);
    const blocks = this.#blocks(region, mode);
    this.#flushesInFlight += 1;
    const flushed = flushing(
      file,
      region.offset,
      region.byteSize,
      blocks ? () => this.#blockingDatasync(handle.fd) : () => handle.datasync(),
    );
    const settled = () => {
      this.#flushesInFlight -= 1;
      if (handle !== first) return;
      const left = (this.#flushing.get(segment) ?? 1) - 1;
      if (left === 0) this.#flushing.delete(segment);
      else this.#flushing.set(segment, left);
    };
    flushed.then(settled, settled);
    if (mode === "sync") return flushed;
    flushed.catch(() => undefined);
    this.#asyncFlush = flushed;
  }

  /**
   * A small synchronous flush alone on the disk (no other flush of this adapter in flight, on
   * any file) may run on this thread: no round trip through libuv's pool, at the cost of the
   * event loop waiting for the disk. Not while paused after a slow one.
   */
  #blocks(region: Region, mode: FlushMode): boolean {
    const { byteSizeMax } = this.#blocking;
    return (
      byteSizeMax > 0 &&
      mode === "sync" &&
      this.#flushesInFlight === 0 &&
      region.byteSize <= byteSizeMax &&
      performance.now() >= this.#blockingPausedUntilMs
    );
  }

  /**
   * One fdatasync on this thread; a slow one sends the next flushes to the pool for a while.
   * It settles at the event loop's next check phase, not at once: otherwise appenders that
   * append again as soon as they are confirmed would chain batch after batch in microtasks and
   * the loop would never reach its timers or sockets (measured: a 1 ms timer beside 16 such
   * appenders did not fire for 9-17 s).
   */
  async #blockingDatasync(fd: number): Promise<void> {
    this.#blockingFlushCount += 1;
    const startedMs = performance.now();
    try {
      fdatasyncSync(fd);
    } finally {
      const endedMs = performance.now();
      const { slowMs, pauseMs, pauseMsMax } = this.#blocking;
      if (endedMs - startedMs > slowMs) {
        this.#blockingPausedUntilMs = endedMs + this.#blockingPauseMs;
        this.#blockingPauseMs = Math.min(this.#blockingPauseMs * 2, pauseMsMax);
      } else {
        this.#blockingPauseMs = pauseMs;
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Waits for an asynchronous flush in progress, then closes every segment. */
  protected async closeDirectory(): Promise<void> {
    await this.#asyncFlush?.catch(() => undefined);
    await this.directory.close();
  }
}

/**
 * Claims 1, 14, 45: a batch's way to the disk, in one place: staging its region, encoding and
 * sealing its records, the write, and flushes in turn. The synchronizer machine's `flushBatch`
 * actor calls {@link BatchWriter.write}; the machine decides when.
 */
import {
  type Batch,
  byteOffset,
  byteSize,
  type FlushAdapter,
  type FlushMode,
  RecordEncoder,
  type Region,
  type SegmentNumber,
  type SpoolConfig,
  segmentNumber,
  segmentStamp,
} from "@spool/core";
import type { LogPosition, WriteOutcome } from "../machines/SynchronizerContext.js";
import type { FlushJob } from "../machines/SynchronizerServices.js";
import { asyncUnflushedByteSizeMax } from "./UnflushedBound.js";

/**
 * The bytes `byteSize` bytes from `offset` of `segment` hold now, as a view, from a copy the
 * file's owner keeps in memory; undefined when it keeps none there.
 */
export type GapBytes = (
  segment: SegmentNumber,
  offset: number,
  byteSize: number,
) => Uint8Array | undefined;

/** What a batch writer needs: the adapter, the config, the clock for record timestamps. */
export interface BatchWriterOptions {
  readonly adapter: FlushAdapter;
  readonly config: SpoolConfig;
  readonly clock: () => number;
  /**
   * Where the gaps between a batch's positioned writes come from without reading the file back
   * (the index file's copy of its segments); the adapter is read where it gives none.
   */
  readonly gapBytes?: GapBytes;
}

/**
 * Writes batches and flushes them in batch order.
 *
 * @example
 * const outcome = await writer.write(job, () => console.log("staging free"));
 */
export class BatchWriter {
  readonly #options: BatchWriterOptions;
  #preparedAhead = 0;
  /** The latest flush issued: the next waits for it (see #flushInTurn). */
  #flushTail: Promise<void> = Promise.resolve();
  #flushesInFlight = 0;

  constructor(options: BatchWriterOptions) {
    this.#options = options;
  }

  /** Claims 15, 68: maps a segment. */
  async map(segment: Region["segment"]): Promise<void> {
    await this.#options.adapter.map(segment);
  }

  /**
   * Writes a batch and flushes it. Once the adapter took the bytes (the write call returned, so
   * its staging is free for another batch) `submitted` is called, after the flush started.
   */
  async write(job: FlushJob, submitted: () => void): Promise<WriteOutcome> {
    const { adapter } = this.#options;
    const { batch, unflushedFrom } = job;
    const segment = batch.segment!;
    const region: Region = {
      segment,
      offset: batch.startOffset,
      byteSize: byteSize(batch.endOffset - batch.startOffset),
    };
    const start = batch.startOffset;
    let covered = 0;
    for (const write of batch.writes) covered += write.byteSize;
    // Positioned writes (index entries) may leave gaps between them: those bytes are taken
    // from the owner's copy, or read, so the one write that covers the region rewrites them
    // unchanged.
    const gaps =
      covered < region.byteSize
        ? (this.#options.gapBytes?.(segment, start, region.byteSize) ??
          (await adapter.read(segment, start, region.byteSize)))
        : null;
    const window = adapter.stage(region);
    if (gaps !== null) window.set(gaps);
    const encoder = new RecordEncoder(window, batch.writes.length, segmentStamp(segment));
    const appendedAtMs = this.#options.clock();
    for (const { offset, seq, request } of batch.writes) {
      if (request.target === undefined) {
        encoder.encode(offset - start, seq, request.writerId, appendedAtMs, request.payload);
      } else {
        window.set(request.payload, offset - start);
      }
    }
    encoder.seal();
    await adapter.write(region);
    // The flush starts first (an adapter may issue it within the call), then the machine hears
    // that the staging is free for a batch to go beside this one.
    const flushed = this.#flushWritten(batch, region, unflushedFrom);
    submitted();
    this.#prepareAhead(segment, batch.endOffset);
    return flushed;
  }

  /**
   * Pre-zeroes the next segment in the background once the tail passes three quarters of the
   * current one, so the roll finds it ready (claims 62-63) without the zero-fill competing
   * with flushes for the whole life of a segment.
   */
  #prepareAhead(segment: Region["segment"], endOffset: number): void {
    const { adapter, config } = this.#options;
    // Three quarters, rounded down: at 64 MiB that leaves 16 MiB of appends to pre-zero 64 MiB.
    if (endOffset < Math.floor((config.segmentByteSize * 3) / 4)) return;
    if (this.#preparedAhead >= segment + 1) return;
    this.#preparedAhead = segment + 1;
    adapter.prepareSegment(segmentNumber(segment + 1)).catch(() => undefined);
  }

  /** Flushes a written batch's region, and the bytes of earlier async batches with it. */
  async #flushWritten(
    batch: Batch,
    region: Region,
    unflushedFrom: LogPosition | null,
  ): Promise<WriteOutcome> {
    const { config } = this.#options;
    const segment = region.segment;
    if (batch.durability === "async" && !this.#asyncBoundReached(batch, unflushedFrom)) {
      await this.#flushInTurn(region, "async");
      return { level: "async" };
    }
    let flushRegion = region;
    if (unflushedFrom !== null) {
      // Earlier async batches' bytes are covered by this synchronous flush too.
      for (let s = unflushedFrom.segment; s < segment; s++) {
        const from = s === unflushedFrom.segment ? unflushedFrom.offset : 0;
        const earlier = {
          segment: segmentNumber(s),
          offset: byteOffset(from),
          byteSize: byteSize(config.segmentByteSize - from),
        };
        await this.#flushInTurn(earlier, "sync");
      }
      const from = unflushedFrom.segment === segment ? unflushedFrom.offset : 0;
      flushRegion = {
        segment,
        offset: byteOffset(from),
        byteSize: byteSize(batch.endOffset - from),
      };
    }
    await this.#flushInTurn(flushRegion, "sync");
    return { level: "flushed" };
  }

  /**
   * Whether an async batch must be flushed synchronously: its adapter cannot say when an
   * asynchronous flush completes (mmap with `msync`), so nothing else bounds the bytes a power
   * cut can tear, and those since the last synchronous flush reach the bound the tear rule
   * counts on (UnflushedBound.ts).
   */
  #asyncBoundReached(batch: Batch, unflushedFrom: LogPosition | null): boolean {
    const { adapter, config } = this.#options;
    if ((adapter.whenFlushed?.() ?? null) !== null) return false;
    const from = unflushedFrom ?? { segment: batch.segment!, offset: batch.startOffset };
    const unflushed =
      (batch.segment! - from.segment) * config.segmentByteSize + batch.endOffset - from.offset;
    return unflushed >= asyncUnflushedByteSizeMax(config);
  }

  /**
   * One flush at a time, in the order the batches were written, unless the adapter declares
   * `concurrentFlushes`; with two batches on the disk their writes still overlap the other's
   * flush. Linux reports a failed writeback once per open file: of two fdatasyncs in flight on
   * one descriptor, the one that checks second may return success for pages that were lost,
   * and the batch it covers would be confirmed. In turn, a flush that returns success had
   * every failure before it reported to it or to an earlier flush, whose failure breaks the
   * spool first.
   */
  #flushInTurn(region: Region, mode: FlushMode): Promise<void> {
    const { adapter } = this.#options;
    const run = async () => adapter.flush(region, mode);
    if (adapter.concurrentFlushes === true) return run();
    // With no flush in flight it starts within this call (no turn of the microtask queue).
    const flushed = this.#flushesInFlight === 0 ? run() : this.#flushTail.then(run, run);
    this.#flushesInFlight += 1;
    this.#flushTail = flushed.then(
      () => {
        this.#flushesInFlight -= 1;
      },
      () => {
        this.#flushesInFlight -= 1;
      },
    );
    return flushed;
  }
}

/**
 * The synchronizer's counters, kept outside its machine: the machine's actions count into a
 * {@link SynchronizerCounters} the runtime owns, so the machine's context stays small and no
 * event copies them.
 */
import type { FlushReason } from "@spool/core";

/** Counters kept per spool. @example spool.stats().flushes */
export interface SynchronizerStats {
  readonly flushes: number;
  readonly flushReasons: Readonly<Record<FlushReason, number>>;
  readonly recordsWritten: number;
  readonly bytesWritten: number;
  readonly batchRecordsMax: number;
  readonly parked: number;
  readonly skipped: number;
  readonly confirmationsReceived: number;
  readonly confirmationsFailed: number;
  /** Confirmations of confirmation counted after their batch cleared (from slow writers). */
  readonly confirmationsLate: number;
  /** Times a writer was marked slow: it missed its batch's confirmation deadline. */
  readonly writersMarkedSlow: number;
  /** Batches written beside another still flushing (pipelining). */
  readonly writtenAhead: number;
  /** Batches gathered while the disk was idle and written as two (pipelining). */
  readonly splits: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The counters, counted in place; {@link SynchronizerCounters.read} copies them out.
 *
 * @example
 * const counters = new SynchronizerCounters();
 * counters.flushed("maxBytes", 12, 4096);
 */
export class SynchronizerCounters {
  readonly #stats: Mutable<SynchronizerStats> = {
    flushes: 0,
    flushReasons: {
      close: 0,
      pageOffset: 0,
      byteOffset: 0,
      maxBytes: 0,
      maxCount: 0,
      contiguousRun: 0,
      maxGatherTime: 0,
      sinceLastFlush: 0,
      maxIdleTime: 0,
    },
    recordsWritten: 0,
    bytesWritten: 0,
    batchRecordsMax: 0,
    parked: 0,
    skipped: 0,
    confirmationsReceived: 0,
    confirmationsFailed: 0,
    confirmationsLate: 0,
    writersMarkedSlow: 0,
    writtenAhead: 0,
    splits: 0,
  };

  /** A batch of `records` records and `byteSize` bytes was written and flushed for `reason`. */
  flushed(reason: FlushReason, records: number, byteSize: number): void {
    const stats = this.#stats;
    stats.flushes += 1;
    (stats.flushReasons as Record<FlushReason, number>)[reason] += 1;
    stats.recordsWritten += records;
    stats.bytesWritten += byteSize;
    if (records > stats.batchRecordsMax) stats.batchRecordsMax = records;
  }

  /** Admission parked and skipped these many requests. */
  admitted(parked: number, skipped: number): void {
    this.#stats.parked += parked;
    this.#stats.skipped += skipped;
  }

  /** Confirmations of confirmation came (`confirmed`), or were counted failed. */
  confirmations(confirmed: number, failed: number): void {
    this.#stats.confirmationsReceived += confirmed;
    this.#stats.confirmationsFailed += failed;
  }

  /** A slow writer's owed confirmations came (`confirmed`) or lapsed. */
  late(confirmed: number, lapsed: number): void {
    this.confirmations(confirmed, lapsed);
    this.#stats.confirmationsLate += confirmed;
  }

  markedSlow(count: number): void {
    this.#stats.writersMarkedSlow += count;
  }

  wroteAhead(): void {
    this.#stats.writtenAhead += 1;
  }

  split(): void {
    this.#stats.splits += 1;
  }

  /** A copy of the counters as they stand. */
  read(): SynchronizerStats {
    return { ...this.#stats, flushReasons: { ...this.#stats.flushReasons } };
  }
}

/**
 * How far past the last completed flush the log can reach at a power cut: the only bytes a
 * power cut can tear (see LogDamage.ts). Opening, `spool verify` and salvage use it to tell a
 * torn tail from corruption: damage followed by a valid record that ends farther than this past
 * the damage's start cannot be a torn write, since that record's bytes were flushed before the
 * damaged ones could have been in flight.
 *
 * Why it holds. The synchronizer has at most two batches unflushed at once: with pipelining,
 * the in-flight batch and one written ahead of it; with `async` batches, the one whose
 * asynchronous flush is still running and the one being written after it (the bundled adapters
 * settle an asynchronous flush before starting the next, `settleAsyncFlush`; an adapter that
 * cannot say when its asynchronous flush completes, such as mmap with `msync`, gets a
 * synchronous flush once its unflushed async bytes reach {@link asyncUnflushedByteSizeMax}, see
 * Synchronizer.ts). A batch lies in one segment and holds at most `batchByteSizeMax` bytes, or
 * one record larger than that. Between two batches a roll to the next segment leaves zeros:
 * fewer than one record's bytes.
 */
import { recordByteSize, type SpoolConfig } from "@spool/core";

/**
 * The most log bytes one batch can span: `batchByteSizeMax`, or one record larger than that,
 * and never more than a segment (a batch lies in one).
 *
 * @example
 * batchByteSizeBound(resolveConfig({ segmentByteSize: 16384, batchByteSizeMax: 4096 }))
 */
export function batchByteSizeBound(config: SpoolConfig): number {
  const largestRecord = recordByteSize(config.recordPayloadByteSizeMax);
  const batch = config.batchByteSizeMax ?? config.segmentByteSize;
  return Math.min(config.segmentByteSize, Math.max(batch, largestRecord));
}

/**
 * The unflushed async bytes (in log bytes, from the first unflushed one to the end of the batch
 * just written) at which the synchronizer flushes synchronously when the adapter cannot say
 * when an asynchronous flush completes: one batch's bound, so that with the batch written after
 * them they stay within {@link unflushedByteSizeMax}.
 *
 * @example
 * if (unflushedBytes >= asyncUnflushedByteSizeMax(config)) mode = "sync";
 */
export function asyncUnflushedByteSizeMax(config: SpoolConfig): number {
  return batchByteSizeBound(config);
}

/**
 * The most log bytes that can be unflushed at once under `config`: two batches and the zeros a
 * roll between them leaves (less than one record, so less than a batch's bound). Whatever lies
 * farther than this past the start of the unflushed region was flushed.
 *
 * @example
 * const bound = unflushedByteSizeMax(resolveConfig({ segmentByteSize: 16384 }));
 */
export function unflushedByteSizeMax(config: SpoolConfig): number {
  // Two batches, plus under one batch's bound of roll zeros between them.
  return 3 * batchByteSizeBound(config);
}

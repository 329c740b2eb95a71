/**
 * The batch of substantially contiguous disk writes (claims 1-2, 12-13) and the rule that
 * decides, request by request, whether a request joins it.
 *
 * "Substantially contiguous": a write joins a non-empty batch when it lies in the batch's
 * segment, starts at or after the batch end and at most `maxByteGap` bytes past it (claim 13),
 * and ends within `maxPageSpan` pages of the batch's first page (claim 12). An empty batch takes
 * any write. Appends are placed at the log's tail, so they are contiguous until a batch reaches
 * its page span or the tail rolls into the next segment.
 */

import { assert } from "./Assert.js";
import type { SpoolConfig } from "./SpoolConfig.js";
import {
  type ByteOffset,
  type ByteSize,
  byteOffset,
  byteSize,
  pageOf,
  type SegmentNumber,
  type Seq,
} from "./Units.js";
import { type Durability, strongerDurability, type WriteRequest } from "./WriteRequest.js";

/** Where the next append goes, and the sequence number it gets. @example const cursor: AppendCursor = { segment, offset, nextSeq } */
export interface AppendCursor {
  readonly segment: SegmentNumber;
  readonly offset: ByteOffset;
  readonly nextSeq: Seq;
}

/** A request with its place on disk. @example batch.writes[0].seq */
export interface PlacedWrite {
  readonly request: WriteRequest;
  readonly seq: Seq;
  readonly segment: SegmentNumber;
  readonly offset: ByteOffset;
  readonly byteSize: ByteSize;
}

/** A batch's identity: counts up from 1 per spool. @example const id: BatchId = 1 as BatchId */
export type BatchId = number & { readonly __batchId: true };

/**
 * A batch. Immutable: admission returns a new batch.
 *
 * @example
 * const empty = emptyBatch(1 as BatchId);
 */
export interface Batch {
  readonly id: BatchId;
  readonly writes: readonly PlacedWrite[];
  readonly segment: SegmentNumber | null;
  readonly startOffset: ByteOffset;
  readonly endOffset: ByteOffset;
  readonly byteSize: ByteSize;
  /** Writes that start exactly where the previous one ended, counting the first (claim 7). */
  readonly contiguousRun: number;
  readonly firstAtMs: number;
  readonly lastAtMs: number;
  readonly durability: Durability;
}

/** A batch with no writes. @example emptyBatch(1 as BatchId).writes.length === 0 */
export function emptyBatch(id: BatchId): Batch {
  return {
    id,
    writes: [],
    segment: null,
    startOffset: byteOffset(0),
    endOffset: byteOffset(0),
    byteSize: byteSize(0),
    contiguousRun: 0,
    firstAtMs: 0,
    lastAtMs: 0,
    durability: "async",
  };
}

/**
 * Why a write does not join a batch: it lies too far (claims 12 and 13), or the batch holds
 * `batchByteSizeMax` bytes or `batchCountMax` requests already (claims 8, 9).
 *
 * @example
 * const r: Refusal = "pageOffset"
 */
export type Refusal = "pageOffset" | "byteOffset" | "maxBytes" | "maxCount";

/** Where a write would go: its segment, offset and size. @example { segment, offset, byteSize } */
export interface Placement {
  readonly segment: SegmentNumber;
  readonly offset: ByteOffset;
  readonly byteSize: ByteSize;
}

/** The part of a batch that {@link fitsBatch} looks at. @example { empty: false, segment, startOffset, endOffset } */
export interface BatchExtent {
  readonly empty: boolean;
  readonly segment: SegmentNumber | null;
  readonly startOffset: ByteOffset;
  readonly endOffset: ByteOffset;
}

/**
 * Decides whether a placed write joins the batch: `undefined` when it does, else the refusal.
 *
 * @example
 * fitsBatch(extentOf(batch), placement, config) // undefined, "pageOffset" or "byteOffset"
 */
export function fitsBatch(
  batch: BatchExtent,
  placement: Placement,
  config: SpoolConfig,
): Refusal | undefined {
  if (batch.empty) return undefined;
  if (placement.segment !== batch.segment) return "byteOffset";
  if (placement.offset < batch.endOffset) return "byteOffset";
  if (placement.offset - batch.endOffset > config.maxByteGap) return "byteOffset";
  const firstPage = pageOf(batch.startOffset, config.pageByteSize);
  const lastPage = pageOf(placement.offset + placement.byteSize - 1, config.pageByteSize);
  // Pages counted inclusively: a batch on pages 0..1023 spans 1024 pages.
  if (lastPage - firstPage + 1 > config.maxPageSpan) return "pageOffset";
  return undefined;
}

/** A batch's extent. @example fitsBatch(extentOf(batch), placement, config) */
export function extentOf(batch: Batch): BatchExtent {
  return {
    empty: batch.writes.length === 0,
    segment: batch.segment,
    startOffset: batch.startOffset,
    endOffset: batch.endOffset,
  };
}

/**
 * Adds placed writes to a batch (one copy of the write list per call, not per write).
 *
 * @example
 * const next = addWrites(batch, [write], Date.now());
 */
export function addWrites(batch: Batch, added: readonly PlacedWrite[], nowMs: number): Batch {
  if (added.length === 0) return batch;
  const first = added[0]!;
  let { contiguousRun, durability, endOffset } = batch;
  let size: number = batch.byteSize;
  const empty = batch.writes.length === 0;
  for (const write of added) {
    if (contiguousRun === 0 || write.offset === endOffset) contiguousRun += 1;
    endOffset = byteOffset(write.offset + write.byteSize);
    size += write.byteSize;
    durability = strongerDurability(durability, write.request.durability);
  }
  return {
    id: batch.id,
    writes: empty ? added : [...batch.writes, ...added],
    segment: empty ? first.segment : batch.segment,
    startOffset: empty ? first.offset : batch.startOffset,
    endOffset,
    byteSize: byteSize(size),
    contiguousRun,
    firstAtMs: empty ? nowMs : batch.firstAtMs,
    lastAtMs: nowMs,
    durability,
  };
}

/**
 * Splits a batch in two contiguous batches of about half its bytes each (pipelining): the first
 * keeps the id, the second takes `secondId`. Both keep the batch's gathering times.
 *
 * @example
 * const [head, rest] = splitBatch(batch, (batch.id + 1) as BatchId);
 */
export function splitBatch(batch: Batch, secondId: BatchId): readonly [Batch, Batch] {
  const { writes } = batch;
  assert(writes.length >= 2, "splitBatch: a batch of fewer than two writes");
  let at = 0;
  let bytes = 0;
  while (at < writes.length - 1 && bytes * 2 < batch.byteSize) {
    bytes += writes[at]!.byteSize;
    at += 1;
  }
  const part = (id: BatchId, from: number, to: number): Batch => ({
    ...addWrites(emptyBatch(id), writes.slice(from, to), batch.firstAtMs),
    lastAtMs: batch.lastAtMs,
  });
  return [part(batch.id, 0, Math.max(1, at)), part(secondId, Math.max(1, at), writes.length)];
}

/**
 * Reading the log back: the durable records in seq order, up to where flushed data ended when
 * the reading began (what `spool.records()` yields).
 */
import {
  type FlushAdapter,
  LOST_RECORD_WRITER_ID,
  type Seq,
  type SpoolConfig,
  segmentNumber,
} from "@spool/core";
import { checkOptions, checkSeq } from "../internal/Arguments.js";
import { scanRecords } from "../internal/RecordScanner.js";
import type { DiskBudget } from "./DiskBudget.js";

/** A durable record read back. @example for await (const { seq, payload } of spool.records()) {} */
export interface DurableRecord {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  readonly writerId: number;
  readonly appendedAtMs: number;
}

/**
 * The records from `options.from` on, up to the flushed end the budget knows when the first
 * step runs (see `Spool.records`); the first step rejects with `InvalidArgument` for bad options.
 *
 * @example
 * for await (const record of durableRecords(adapter, config, budget, { from: 1 })) {}
 */
export async function* durableRecords(
  adapter: FlushAdapter,
  config: SpoolConfig,
  budget: Pick<DiskBudget, "tail">,
  options: { readonly from?: number },
): AsyncGenerator<DurableRecord, void, undefined> {
  const { from } = checkOptions(options, ["from"]);
  const fromSeq = from === undefined ? undefined : checkSeq(from, "from");
  const segments = await adapter.listSegments();
  // Up to what the synchronizer reported flushed, async batches included (not only up to
  // the last synchronous flush), so a reader sees what a consumer can take.
  const { tail } = budget;
  const stopAt = { segment: segmentNumber(tail.segment), offset: tail.offset };
  const scan = scanRecords(adapter, {
    firstSegment: segmentNumber(segments[0] ?? 1),
    segments,
    segmentByteSize: config.segmentByteSize,
    stopAt,
    ...(fromSeq === undefined ? {} : { fromSeq }),
  });
  for await (const record of scan) {
    // A salvage's stand-in for a lost record carries nothing anyone appended.
    if (record.header.writerId === LOST_RECORD_WRITER_ID) continue;
    yield {
      seq: record.header.seq,
      payload: record.payload,
      writerId: record.header.writerId,
      appendedAtMs: record.header.appendedAtMs,
    };
  }
}

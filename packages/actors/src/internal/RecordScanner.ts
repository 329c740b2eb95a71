/**
 * Reads records back in sequence order, segment by segment, in chunks (one read per chunk, not
 * per record). A scan ends at the first position that is not the next valid record: zeros (the
 * unwritten rest of the log), a bad checksum (a torn write), or a sequence number out of order.
 */
import {
  byteOffset,
  byteSize,
  decodeRecord,
  type FlushAdapter,
  type RecordDefect,
  type RecordHeader,
  type SegmentNumber,
  type Seq,
  segmentNumber,
} from "@spool/core";

// 1 MiB reads: large enough that per-read cost vanishes, small against a segment.
const READ_CHUNK_BYTE_SIZE = 1024 * 1024;

/** One record read back. */
export interface ScannedRecord {
  readonly header: RecordHeader;
  readonly payload: Uint8Array;
  readonly segment: SegmentNumber;
  readonly offset: number;
  readonly byteSize: number;
}

/** Where a scan stopped and why. */
export interface ScanEnd {
  readonly segment: SegmentNumber;
  readonly offset: number;
  readonly defect: RecordDefect | "seq" | "limit";
  readonly lastSeq: number;
}

/** Limits of a scan: stop before this position (exclusive), start yielding at this seq. */
export interface ScanRange {
  readonly firstSegment: SegmentNumber;
  readonly segments: readonly SegmentNumber[];
  readonly segmentByteSize: number;
  readonly stopAt?: { readonly segment: SegmentNumber; readonly offset: number };
  readonly fromSeq?: number;
}

/** Scans records; returns where it ended once exhausted. */
export async function* scanRecords(
  adapter: FlushAdapter,
  range: ScanRange,
): AsyncGenerator<ScannedRecord, ScanEnd, undefined> {
  let expected = 0;
  let segment = range.firstSegment;
  let offset = 0;
  const available = new Set(range.segments);
  while (available.has(segment)) {
    const stopOffset =
      range.stopAt === undefined || range.stopAt.segment > segment
        ? range.segmentByteSize
        : range.stopAt.segment === segment
          ? range.stopAt.offset
          : 0;
    let chunkStart = offset;
    let chunk: Uint8Array = new Uint8Array(0);
    while (offset < stopOffset) {
      // A record never straddles segments: too little room left means the segment is done.
      if (offset + 40 > range.segmentByteSize) break;
      if (offset + 40 > chunkStart + chunk.byteLength) {
        chunkStart = offset;
        const length = Math.min(READ_CHUNK_BYTE_SIZE, range.segmentByteSize - offset);
        chunk = await adapter.read(segment, byteOffset(offset), byteSize(length));
      }
      let decoded = decodeRecord(chunk, offset - chunkStart);
      if (!decoded.ok && decoded.defect === "length" && decoded.needBytes !== undefined) {
        const length = Math.min(
          Math.max(READ_CHUNK_BYTE_SIZE, decoded.needBytes),
          range.segmentByteSize - offset,
        );
        chunkStart = offset;
        chunk = await adapter.read(segment, byteOffset(offset), byteSize(length));
        decoded = decodeRecord(chunk, 0);
      }
      const rolled =
        !decoded.ok &&
        (decoded.defect === "end" ||
          (decoded.defect === "length" &&
            offset + (decoded.needBytes ?? 0) > range.segmentByteSize));
      if (rolled && available.has(segmentNumber(segment + 1))) break;
      if (!decoded.ok) {
        if (rolled)
          return { segment, offset, defect: "end", lastSeq: expected === 0 ? 0 : expected - 1 };
        return {
          segment,
          offset,
          defect: decoded.defect,
          lastSeq: expected === 0 ? 0 : expected - 1,
        };
      }
      const seqValue: Seq = decoded.header.seq;
      if (expected !== 0 && seqValue !== expected) {
        return { segment, offset, defect: "seq", lastSeq: expected - 1 };
      }
      expected = seqValue + 1;
      if (range.fromSeq === undefined || seqValue >= range.fromSeq) {
        yield {
          header: decoded.header,
          payload: decoded.payload.slice(),
          segment,
          offset,
          byteSize: decoded.byteSize,
        };
      }
      offset += decoded.byteSize;
    }
    if (range.stopAt !== undefined && range.stopAt.segment === segment && offset >= stopOffset) {
      return { segment, offset, defect: "limit", lastSeq: expected === 0 ? 0 : expected - 1 };
    }
    segment = segmentNumber(segment + 1);
    offset = 0;
  }
  return { segment, offset, defect: "end", lastSeq: expected === 0 ? 0 : expected - 1 };
}

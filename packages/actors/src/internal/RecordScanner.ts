/**
 * Reads records back in sequence order, segment by segment, in chunks (one read per chunk, not
 * per record). A scan ends at the first position that is not the next valid record of the
 * segment's current life: zeros (the unwritten rest of a zero-filled segment), a stale record
 * (the rest of a recycled segment's earlier life: its stamp is another segment's), a bad
 * checksum or padding (a torn write or damage: see LogDamage.ts), or a sequence number out of
 * order.
 */
import {
  byteOffset,
  byteSize,
  type DecodedRecord,
  decodeRecord,
  type FlushAdapter,
  isLiveRecord,
  type RecordDefect,
  type RecordHeader,
  type SegmentNumber,
  type Seq,
  segmentNumber,
  UNSTAMPED_RECORD_FORMAT_VERSION,
} from "@spool/core";

// 1 MiB reads: large enough that per-read cost vanishes, small against a segment.
const READ_CHUNK_BYTE_SIZE = 1024 * 1024;
const ZEROS = Buffer.alloc(READ_CHUNK_BYTE_SIZE);

/** One record read back. */
export interface ScannedRecord {
  readonly header: RecordHeader;
  readonly payload: Uint8Array;
  readonly segment: SegmentNumber;
  readonly offset: number;
  readonly byteSize: number;
  /**
   * Whether its padding read as stale bytes of a recycled segment (see tornPaddingRecord):
   * opening zeroes it, so the record reads back as written.
   */
  readonly paddingStale?: true;
}

/** Where a scan stopped and why. */
export interface ScanEnd {
  readonly segment: SegmentNumber;
  readonly offset: number;
  readonly defect: RecordDefect | "seq" | "stale" | "limit";
  readonly lastSeq: number;
  /** Where the zeros began in the segment before `segment`, if the scan rolled into it. */
  readonly rolledFrom?: { readonly segment: SegmentNumber; readonly offset: number };
}

/** Limits of a scan: stop before this position (exclusive), start yielding at this seq. */
export interface ScanRange {
  readonly firstSegment: SegmentNumber;
  readonly segments: readonly SegmentNumber[];
  readonly segmentByteSize: number;
  readonly stopAt?: { readonly segment: SegmentNumber; readonly offset: number };
  readonly fromSeq?: number;
}

/** Whether bytes [from, to) of a segment are all zero, read a chunk at a time. */
export async function allZero(
  adapter: FlushAdapter,
  segment: SegmentNumber,
  from: number,
  to: number,
): Promise<boolean> {
  for (let at = from; at < to; at += READ_CHUNK_BYTE_SIZE) {
    const length = Math.min(READ_CHUNK_BYTE_SIZE, to - at);
    const bytes = await adapter.read(segment, byteOffset(at), byteSize(length));
    // A native memcmp against zeros: a segment's tail is checked in milliseconds.
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (!view.equals(ZEROS.subarray(0, length))) return false;
  }
  return true;
}

/**
 * Whether a segment's unstamped (format 1) records are live: it begins with one, so it was
 * written before stamps (and zero-filled: recycling came with them). A recycled segment begins
 * with a stamped record, and any unstamped one in it is stale.
 */
export function unstampedLiveIn(first: DecodedRecord): boolean {
  return first.ok && first.header.formatVersion === UNSTAMPED_RECORD_FORMAT_VERSION;
}

/** The valid record at `offset` of `segment`, read whole, or undefined. */
async function recordAt(
  adapter: FlushAdapter,
  segment: SegmentNumber,
  offset: number,
  segmentByteSize: number,
): Promise<DecodedRecord> {
  const length = Math.min(READ_CHUNK_BYTE_SIZE, segmentByteSize - offset);
  let bytes = await adapter.read(segment, byteOffset(offset), byteSize(length));
  let decoded = decodeRecord(bytes, 0);
  if (!decoded.ok && decoded.defect === "length" && decoded.needBytes !== undefined) {
    const whole = Math.min(decoded.needBytes, segmentByteSize - offset);
    bytes = await adapter.read(segment, byteOffset(offset), byteSize(whole));
    decoded = decodeRecord(bytes, 0);
  }
  return decoded;
}

/**
 * Whether the log goes on at the start of the next segment with exactly the seq expected: the
 * writer rolled there (a record never straddles segments), and no record can be missing between.
 * What lies before in this segment (zeros, or a recycled segment's stale earlier life) is not
 * the log's.
 */
export async function continuesInNext(
  adapter: FlushAdapter,
  next: SegmentNumber,
  expected: number,
  segmentByteSize: number,
): Promise<boolean> {
  if (expected === 0) return false;
  const first = await recordAt(adapter, next, 0, segmentByteSize);
  return (
    first.ok &&
    first.header.seq === expected &&
    isLiveRecord(first.header, next, unstampedLiveIn(first))
  );
}

/**
 * Whether a valid record with another segment's stamp lies in `segment` at or after `from`: its
 * file was recycled, and bytes a torn write lost there read as its earlier life, not as zeros.
 * Read a chunk at a time; asked only of a record whose padding is not zero.
 */
export async function holdsStaleRecord(
  adapter: FlushAdapter,
  segment: SegmentNumber,
  from: number,
  segmentByteSize: number,
): Promise<boolean> {
  const magic = Buffer.from([0x53, 0x50, 0x4f, 0x4c]);
  for (let at = from; at + 40 <= segmentByteSize; ) {
    const length = Math.min(READ_CHUNK_BYTE_SIZE, segmentByteSize - at);
    const bytes = await adapter.read(segment, byteOffset(at), byteSize(length));
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let found = view.indexOf(magic); found >= 0; found = view.indexOf(magic, found + 1)) {
      if ((at + found) % 8 !== 0) continue;
      const decoded = await recordAt(adapter, segment, at + found, segmentByteSize);
      if (
        decoded.ok &&
        decoded.header.formatVersion === 2 &&
        !isLiveRecord(decoded.header, segment, false)
      ) {
        return true;
      }
    }
    // The next chunk starts where a magic word cut at this one's end would.
    at += Math.max(8, length - 8);
  }
  return false;
}

/**
 * The record at `at` of `chunk` read with its padding as zeros, when its segment was recycled.
 * A torn write there leaves the sectors it lost as the segment's earlier life, and where those
 * bytes happen to equal the record's own (repetitive payloads) its checksum holds while its
 * padding reads stale: so in a recycled segment non-zero padding is not proof of damage. The
 * checksum holds, so header and payload are as written, and the record is kept (never
 * acknowledged, if torn); the log goes on or ends after it as the bytes say. In a zero-filled
 * segment a lost sector reads as zeros, so non-zero padding there is damage (LogDamage.ts).
 */
export async function tornPaddingRecord(
  adapter: FlushAdapter,
  segment: SegmentNumber,
  place: { readonly chunk: Uint8Array; readonly at: number; readonly offset: number },
  segmentByteSize: number,
): Promise<DecodedRecord | undefined> {
  const { chunk, at, offset } = place;
  if (at + 40 > chunk.byteLength) return undefined;
  const view = new DataView(chunk.buffer, chunk.byteOffset + at, 40);
  const payloadByteSize = view.getUint32(8, true);
  const checkedEnd = 40 + payloadByteSize;
  const recordEnd = Math.ceil(checkedEnd / 8) * 8;
  if (at + recordEnd > chunk.byteLength) return undefined;
  if (!(await holdsStaleRecord(adapter, segment, offset + recordEnd, segmentByteSize))) {
    return undefined;
  }
  const copy = Uint8Array.from(chunk.subarray(at, at + recordEnd));
  copy.fill(0, checkedEnd);
  return decodeRecord(copy, 0);
}

/** Scans records; returns where it ended once exhausted. */
export async function* scanRecords(
  adapter: FlushAdapter,
  range: ScanRange,
): AsyncGenerator<ScannedRecord, ScanEnd, undefined> {
  let expected = 0;
  let segment = range.firstSegment;
  let offset = 0;
  let rolledFrom: ScanEnd["rolledFrom"];
  const rolled = (into: SegmentNumber) =>
    rolledFrom !== undefined && rolledFrom.segment + 1 === into ? { rolledFrom } : {};
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
    let unstampedLive = false;
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
      let paddingStale = false;
      if (!decoded.ok && decoded.defect === "padding") {
        const place = { chunk, at: offset - chunkStart, offset };
        const kept = await tornPaddingRecord(adapter, segment, place, range.segmentByteSize);
        paddingStale = kept?.ok === true;
        decoded = kept ?? decoded;
      }
      if (offset === 0) unstampedLive = unstampedLiveIn(decoded);
      const live = decoded.ok && isLiveRecord(decoded.header, segment, unstampedLive);
      // The writer rolls to the next segment when a record does not fit, leaving zeros (or a
      // recycled segment's stale bytes) behind. Zeros followed by anything else are not a roll
      // unless the next segment goes on with the very seq expected: the scan stops there, so
      // that damage (a zeroed record start) is never skipped over on the way to the next one.
      const next = segmentNumber(segment + 1);
      if (
        !live &&
        available.has(next) &&
        ((await continuesInNext(adapter, next, expected, range.segmentByteSize)) ||
          (!decoded.ok &&
            decoded.defect === "end" &&
            (await allZero(adapter, segment, offset, range.segmentByteSize))))
      ) {
        break;
      }
      if (!decoded.ok || !live) {
        return {
          segment,
          offset,
          defect: decoded.ok ? "stale" : decoded.defect,
          lastSeq: expected === 0 ? 0 : expected - 1,
        };
      }
      const seqValue: Seq = decoded.header.seq;
      if (expected !== 0 && seqValue !== expected) {
        return { segment, offset, defect: "seq", lastSeq: expected - 1, ...rolled(segment) };
      }
      expected = seqValue + 1;
      if (range.fromSeq === undefined || seqValue >= range.fromSeq) {
        yield {
          header: decoded.header,
          // A copy of its own: a chunk read by the file adapter is a Buffer, whose slice() is a
          // view, and a caller keeping one payload would keep its whole 1 MiB chunk alive.
          payload: Uint8Array.prototype.slice.call(decoded.payload),
          segment,
          offset,
          byteSize: decoded.byteSize,
          ...(paddingStale ? { paddingStale: true as const } : {}),
        };
      }
      offset += decoded.byteSize;
    }
    if (range.stopAt !== undefined && range.stopAt.segment === segment && offset >= stopOffset) {
      return { segment, offset, defect: "limit", lastSeq: expected === 0 ? 0 : expected - 1 };
    }
    rolledFrom = { segment, offset };
    segment = segmentNumber(segment + 1);
    offset = 0;
  }
  return { segment, offset, defect: "end", lastSeq: expected === 0 ? 0 : expected - 1 };
}

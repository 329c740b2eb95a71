/**
 * The queue data file's record format (claim 59: a record carries everything needed to rebuild
 * its index entry: its sequence number, writer, time and length; its file and offset are where
 * it lies).
 *
 * Layout, little-endian, 40-byte header then payload, then zero padding:
 *
 * | offset | size | field                                                  |
 * |-------:|-----:|--------------------------------------------------------|
 * |      0 |    4 | magic `0x4C4F5053` ("SPOL" as bytes)                   |
 * |      4 |    2 | format version (2; 1 in spools written before stamps)  |
 * |      6 |    2 | header byte size (40)                                  |
 * |      8 |    4 | payload byte size                                      |
 * |     12 |    4 | writer id                                              |
 * |     16 |    8 | sequence number (u64, kept below 2^53)                 |
 * |     24 |    8 | append time, ms since the epoch (u64)                  |
 * |     32 |    4 | CRC32C of bytes 0..40 (this field as 0) and the payload |
 * |     36 |    4 | segment stamp: the segment's number mod 2^32 (v2); 0 (v1) |
 *
 * The stamp tells a record of a segment's current life from one left by an earlier life of the
 * same file: a reclaimed segment is recycled as a later one (PostgreSQL recycles WAL files so),
 * not zero-filled, and its earlier records keep valid checksums. A record whose stamp is not its
 * segment's is stale: it ends the log exactly as zeros do (see {@link isLiveRecord}).
 * Alignment rule: every record starts on an 8-byte boundary; its size is rounded up to a
 * multiple of 8 ({@link RECORD_ALIGNMENT}). Records are not page-aligned: consecutive batches
 * share a page, and the later batch rewrites that page with the earlier batch's bytes
 * unchanged, so a torn page write (sector by sector) can never damage an earlier durable record.
 * A zero magic word, or a stale record, marks the end of the written part of a segment.
 */
import { checksum, sealChecksums } from "./Checksum.js";
import { type ByteSize, byteSize, type Seq, type WriterId } from "./Units.js";

/** The four bytes every record starts with ("SPOL" read as little-endian u32). @example RECORD_MAGIC */
export const RECORD_MAGIC = 0x4c4f5053;
/** The record format version this build writes: stamped records. @example RECORD_FORMAT_VERSION === 2 */
export const RECORD_FORMAT_VERSION = 2;
/**
 * The format version of records written before segment stamps (their bytes 36-40 are zero);
 * still read, in the segments that begin with one (see {@link isLiveRecord}).
 *
 * @example
 * record.header.formatVersion === UNSTAMPED_RECORD_FORMAT_VERSION
 */
export const UNSTAMPED_RECORD_FORMAT_VERSION = 1;
/** Bytes in a record header. @example RECORD_HEADER_BYTE_SIZE === 40 */
export const RECORD_HEADER_BYTE_SIZE = 40;
/** Records start on multiples of this many bytes; 8 keeps the u64 fields aligned. @example 8 */
export const RECORD_ALIGNMENT = 8;

/**
 * The writer id of a record `spool recover --salvage` writes in place of one it could not
 * keep: it holds that seq so the log stays dense, carries no payload anyone appended (zeros),
 * and is never delivered (the spool counts it done) nor listed by `records()`. No writer gets
 * this id: writer ids count up from 0.
 *
 * @example
 * record.header.writerId === LOST_RECORD_WRITER_ID
 */
export const LOST_RECORD_WRITER_ID = 0xffff_ffff;

const CHECKSUM_FIELD_OFFSET = 32;
const STAMP_FIELD_OFFSET = 36;

/**
 * The stamp a segment's records carry: its number mod 2^32 (segment numbers only grow, and 2^32
 * segments of even 1 MiB are 4 PiB written before one could meet its own stamp again).
 *
 * @example
 * segmentStamp(segmentNumber(7)) // 7
 */
export function segmentStamp(segment: number): number {
  return segment % 0x1_0000_0000;
}

/**
 * Whether a valid record belongs to the current life of `segment`: a stamped (v2) record whose
 * stamp is the segment's, or an unstamped (v1) one in a segment whose first record is unstamped
 * (a segment written before stamps: it was zero-filled, never recycled, since recycling came with
 * stamps). Any other valid record is stale, left by an earlier life of a recycled file.
 *
 * @example
 * if (!isLiveRecord(record.header, segment, firstIsUnstamped)) break; // the log ends here
 */
export function isLiveRecord(
  header: RecordHeader,
  segment: number,
  unstampedLive: boolean,
): boolean {
  if (header.formatVersion === UNSTAMPED_RECORD_FORMAT_VERSION) return unstampedLive;
  return header.stamp === segmentStamp(segment);
}

/** The decoded header of one record. @example const h: RecordHeader = decodeRecordHeader(bytes, 0) */
export interface RecordHeader {
  /** 2, or 1 for a record written before segment stamps. */
  readonly formatVersion: number;
  /** The segment stamp ({@link segmentStamp}); 0 in a version 1 record. */
  readonly stamp: number;
  readonly payloadByteSize: number;
  readonly writerId: WriterId;
  readonly seq: Seq;
  readonly appendedAtMs: number;
  readonly checksum: number;
}

/** What a record carries besides its payload. @example { seq: seq(1), writerId: writerId(0), appendedAtMs: Date.now(), stamp: 1 } */
export interface RecordFields {
  readonly seq: Seq;
  readonly writerId: WriterId;
  readonly appendedAtMs: number;
  /** The stamp of the segment it goes into ({@link segmentStamp}). */
  readonly stamp: number;
}

/**
 * Bytes a record with this payload occupies on disk, padding included.
 *
 * @example
 * recordByteSize(1024) // 1064
 */
export function recordByteSize(payloadByteSize: number): ByteSize {
  return byteSize(
    Math.ceil((RECORD_HEADER_BYTE_SIZE + payloadByteSize) / RECORD_ALIGNMENT) * RECORD_ALIGNMENT,
  );
}

function writeU64(view: DataView, at: number, value: number): void {
  // Split at 2^32; value < 2^53 so the high word fits in 21 bits.
  view.setUint32(at, value >>> 0, true);
  view.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true);
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * 0x1_0000_0000 + view.getUint32(at, true);
}

/**
 * Encodes records into one target (a batch's staging window or mapped region), then seals them:
 * {@link RecordEncoder.seal} writes every record's checksum in one native call for the batch.
 * At 1 KiB payloads a checksum call per record (and a view for it) cost more than the rest of
 * encoding the record; one call for the batch costs a tenth of that. A record's bytes are not
 * valid until its batch is sealed: seal before the bytes are written.
 *
 * @example
 * const encoder = new RecordEncoder(window, 64, segmentStamp(segment));
 * let at = 0;
 * at += encoder.encode(at, seq(1), writerId(0), Date.now(), payload);
 * encoder.seal();
 */
export class RecordEncoder {
  readonly #target: Uint8Array;
  readonly #view: DataView;
  /** Where each record encoded since the last seal starts. */
  #starts: Uint32Array;
  #count = 0;
  readonly #stamp: number;

  /**
   * `records`: how many records the batch holds, when known (room grows past it anyway);
   * `stamp`: the stamp of the segment the target lies in ({@link segmentStamp}).
   */
  constructor(target: Uint8Array, records: number, stamp: number) {
    if (!Number.isInteger(stamp) || stamp < 0 || stamp > 0xffff_ffff) {
      throw new RangeError(`segment stamp ${stamp} is not a u32`);
    }
    this.#target = target;
    this.#stamp = stamp;
    this.#starts = new Uint32Array(Math.max(1, records));
    this.#view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  }

  /**
   * Encodes one record at `at`, its checksum field zero until {@link RecordEncoder.seal}, and
   * returns the bytes it occupies.
   */
  encode(
    at: number,
    seq: Seq,
    writerId: WriterId,
    appendedAtMs: number,
    payload: Uint8Array,
  ): ByteSize {
    const target = this.#target;
    const view = this.#view;
    const payloadByteSize = payload.byteLength;
    const size = recordByteSize(payloadByteSize);
    if (at % RECORD_ALIGNMENT !== 0) throw new RangeError(`record offset ${at} is not 8-aligned`);
    if (at + size > target.byteLength) throw new RangeError("record does not fit its target");
    view.setUint32(at, RECORD_MAGIC, true);
    view.setUint16(at + 4, RECORD_FORMAT_VERSION, true);
    view.setUint16(at + 6, RECORD_HEADER_BYTE_SIZE, true);
    view.setUint32(at + 8, payloadByteSize, true);
    view.setUint32(at + 12, writerId, true);
    writeU64(view, at + 16, seq);
    writeU64(view, at + 24, appendedAtMs);
    view.setUint32(at + CHECKSUM_FIELD_OFFSET, 0, true);
    view.setUint32(at + STAMP_FIELD_OFFSET, this.#stamp, true);
    target.set(payload, at + RECORD_HEADER_BYTE_SIZE);
    const checked = RECORD_HEADER_BYTE_SIZE + payloadByteSize;
    // Padding must read as zero so a rewrite of the shared page is byte-identical.
    if (checked < size) target.fill(0, at + checked, at + size);
    if (this.#count === this.#starts.length) {
      const grown = new Uint32Array(this.#starts.length * 2);
      grown.set(this.#starts);
      this.#starts = grown;
    }
    this.#starts[this.#count] = at;
    this.#count += 1;
    return size;
  }

  /** Writes the checksum of every record encoded since the last seal (one native call). */
  seal(): void {
    if (this.#count === 0) return;
    sealChecksums(this.#target, this.#starts, this.#count);
    this.#count = 0;
  }
}

/**
 * Encodes one record into `target` at `at` and returns the bytes it occupies. For a batch of
 * records use one {@link RecordEncoder}.
 *
 * @example
 * const fields = { seq: seq(1), writerId: writerId(0), appendedAtMs: 0, stamp: 1 };
 * const size = encodeRecord(buffer, 0, fields, payload);
 */
export function encodeRecord(
  target: Uint8Array,
  at: number,
  fields: RecordFields,
  payload: Uint8Array,
): ByteSize {
  const encoder = new RecordEncoder(target, 1, fields.stamp);
  const size = encoder.encode(at, fields.seq, fields.writerId, fields.appendedAtMs, payload);
  encoder.seal();
  return size;
}

/**
 * Why bytes at an offset are not a valid record. `padding`: the checksum holds but a padding
 * byte is not zero; the writer pads with zeros and a torn write leaves bytes as written or as
 * they were (zero), so this is damage to a record written whole.
 *
 * @example
 * const r: RecordDefect = "checksum"
 */
export type RecordDefect =
  | "end"
  | "magic"
  | "version"
  | "header"
  | "length"
  | "checksum"
  | "padding";

/** The outcome of reading a record at an offset. @example const r = decodeRecord(bytes, 0) */
export type DecodedRecord =
  | {
      readonly ok: true;
      readonly header: RecordHeader;
      readonly payload: Uint8Array;
      readonly byteSize: ByteSize;
    }
  | { readonly ok: false; readonly defect: RecordDefect; readonly needBytes?: number };

/**
 * Decodes and verifies the record at `at` in `source`. A zero magic word is `end` (the
 * unwritten, pre-zeroed rest of a segment); a record that runs past the end of `source` reports
 * `needBytes` so a chunked reader can fetch more. The payload is a view into `source`.
 *
 * @example
 * const record = decodeRecord(segmentBytes, 0);
 * if (record.ok) console.log(record.header.seq);
 */
export function decodeRecord(source: Uint8Array, at: number): DecodedRecord {
  if (at + RECORD_HEADER_BYTE_SIZE > source.byteLength) {
    return { ok: false, defect: "length", needBytes: RECORD_HEADER_BYTE_SIZE };
  }
  const view = new DataView(source.buffer, source.byteOffset + at, RECORD_HEADER_BYTE_SIZE);
  const magic = view.getUint32(0, true);
  if (magic === 0) return { ok: false, defect: "end" };
  if (magic !== RECORD_MAGIC) return { ok: false, defect: "magic" };
  const formatVersion = view.getUint16(4, true);
  if (
    formatVersion !== RECORD_FORMAT_VERSION &&
    formatVersion !== UNSTAMPED_RECORD_FORMAT_VERSION
  ) {
    return { ok: false, defect: "version" };
  }
  if (view.getUint16(6, true) !== RECORD_HEADER_BYTE_SIZE) return { ok: false, defect: "header" };
  const payloadByteSize = view.getUint32(8, true);
  const size = recordByteSize(payloadByteSize);
  // The padding is read too: verify owns every byte of a record, not only the checksummed ones.
  if (at + size > source.byteLength) {
    return { ok: false, defect: "length", needBytes: size };
  }
  const stored = view.getUint32(CHECKSUM_FIELD_OFFSET, true);
  const payloadEnd = at + RECORD_HEADER_BYTE_SIZE + payloadByteSize;
  let sum = checksum(source.subarray(at, at + CHECKSUM_FIELD_OFFSET));
  sum = checksum(ZERO_WORD, sum);
  sum = checksum(source.subarray(at + CHECKSUM_FIELD_OFFSET + 4, payloadEnd), sum);
  if (sum !== stored) return { ok: false, defect: "checksum" };
  for (let pad = payloadEnd; pad < at + size; pad++) {
    if (source[pad] !== 0) return { ok: false, defect: "padding" };
  }
  const header: RecordHeader = {
    formatVersion,
    stamp: view.getUint32(STAMP_FIELD_OFFSET, true),
    payloadByteSize,
    writerId: view.getUint32(12, true) as WriterId,
    seq: readU64(view, 16) as Seq,
    appendedAtMs: readU64(view, 24),
    checksum: stored,
  };
  return {
    ok: true,
    header,
    payload: source.subarray(at + RECORD_HEADER_BYTE_SIZE, payloadEnd),
    byteSize: size,
  };
}

const ZERO_WORD = new Uint8Array(4);

/**
 * Whether one changed byte explains why a record fails its checksum: the mark of a flipped or
 * rotted byte, never of a torn write (which loses whole 512-byte sectors). LogDamage.ts asks it
 * of damage followed by valid records, so that damage in a recycled segment, where a lost sector
 * reads as the segment's earlier life rather than as zeros, is still told from a flipped byte.
 *
 * CRC32C is linear: the checksum of the bytes as read, XORed with the stored one, is the CRC
 * register (from zero, no final XOR) of the error pattern alone. For one byte of value v at
 * position q of an n-byte message that register is T[v] advanced through n - q - 1 zero bytes,
 * and a zero byte's step is invertible, so stepping the difference back one byte at a time and
 * asking whether it is some T[v] finds such an error in O(n) (syndrome decoding). A difference
 * that only one byte of the stored checksum field explains is a flip in that field.
 *
 * A torn record is explained by chance with probability about n × 255 / 2^32 (6 × 10^-5 at
 * 1 KiB, 0.4% at 64 KiB): it is then refused as corruption, the safe way to err, and
 * `spool recover --salvage` repairs it.
 */
import {
  checksum,
  RECORD_FORMAT_VERSION,
  RECORD_HEADER_BYTE_SIZE,
  RECORD_MAGIC,
  recordByteSize,
  UNSTAMPED_RECORD_FORMAT_VERSION,
} from "@spool/core";

// CRC32C's polynomial, bit-reversed (the crc32c addon's too).
const POLYNOMIAL = 0x82f63b78;
const CHECKSUM_FIELD_OFFSET = 32;
const STAMP_FIELD_OFFSET = 36;

/** T[v]: the register after one byte v fed from zero. */
const TABLE = new Uint32Array(256);
/** The byte whose table entry has this top byte (the top bytes of T are all distinct). */
const BY_TOP_BYTE = new Uint8Array(256);
const TABLE_VALUES = new Set<number>();
for (let value = 0; value < 256; value++) {
  let register = value;
  for (let bit = 0; bit < 8; bit++) {
    register = register & 1 ? (register >>> 1) ^ POLYNOMIAL : register >>> 1;
  }
  TABLE[value] = register >>> 0;
  BY_TOP_BYTE[register >>> 24] = value;
  if (value !== 0) TABLE_VALUES.add(register >>> 0);
}

/** The register before a zero byte was fed, given the register after it. */
function unfeedZero(register: number): number {
  const value = BY_TOP_BYTE[register >>> 24] as number;
  return (((register ^ (TABLE[value] as number)) << 8) | value) >>> 0;
}

/** Whether `difference` has its set bits in one byte only (and some set). */
function oneByteWide(difference: number): boolean {
  for (let shift = 0; shift < 32; shift += 8) {
    if (difference !== 0 && (difference & ~(0xff << shift)) === 0) return true;
  }
  return false;
}

/**
 * Whether changing one byte at a position of the `length`-byte checked message, other than its
 * checksum field, turns the CRC register difference `syndrome` to zero.
 */
function oneByteSyndrome(syndrome: number, length: number): boolean {
  let register = syndrome >>> 0;
  for (let fromEnd = 0; fromEnd < length; fromEnd++) {
    const position = length - 1 - fromEnd;
    const inField = position >= CHECKSUM_FIELD_OFFSET && position < CHECKSUM_FIELD_OFFSET + 4;
    if (!inField && TABLE_VALUES.has(register)) return true;
    register = unfeedZero(register);
  }
  return false;
}

/** The CRC32C a record's checksum field should hold, over `record` as it is (field as zero). */
function recordChecksum(record: Uint8Array, payloadByteSize: number): number {
  const end = RECORD_HEADER_BYTE_SIZE + payloadByteSize;
  let sum = checksum(record.subarray(0, CHECKSUM_FIELD_OFFSET));
  sum = checksum(ZERO_WORD, sum);
  return checksum(record.subarray(CHECKSUM_FIELD_OFFSET + 4, end), sum);
}
const ZERO_WORD = new Uint8Array(4);

/** Which bytes a live record's header must hold: its magic, version, header size and stamp. */
function expectedConstants(stamp: number, unstamped: boolean): Uint8Array {
  const bytes = new Uint8Array(RECORD_HEADER_BYTE_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, RECORD_MAGIC, true);
  view.setUint16(4, unstamped ? UNSTAMPED_RECORD_FORMAT_VERSION : RECORD_FORMAT_VERSION, true);
  view.setUint16(6, RECORD_HEADER_BYTE_SIZE, true);
  view.setUint32(STAMP_FIELD_OFFSET, unstamped ? 0 : stamp, true);
  return bytes;
}
const CONSTANT_POSITIONS = [0, 1, 2, 3, 4, 5, 6, 7, 36, 37, 38, 39];

/** What {@link explainedByOneByte} looks at: a damaged record's bytes and its segment's life. */
export interface DamagedRecordBytes {
  /** The bytes from the damaged record's start (as many as the segment has, up to `room`). */
  readonly bytes: Uint8Array;
  /** Bytes from the record's start to its segment's end. */
  readonly room: number;
  /** The stamp of the record's segment (segmentStamp). */
  readonly stamp: number;
  /** Whether the segment's live records are unstamped (format 1). */
  readonly unstamped: boolean;
}

/**
 * Whether one changed byte (header, payload or checksum field) explains the record's damage.
 * `readWhole(n)` returns at least the first `n` bytes of the record (for a length field whose
 * flip makes the record longer than the bytes given).
 *
 * @example
 * if (await explainedByOneByte(damaged, readWhole)) return "corruption";
 */
export async function explainedByOneByte(
  damaged: DamagedRecordBytes,
  readWhole: (byteSize: number) => Promise<Uint8Array>,
): Promise<boolean> {
  const { bytes, room } = damaged;
  if (bytes.byteLength < RECORD_HEADER_BYTE_SIZE || room < RECORD_HEADER_BYTE_SIZE) return false;
  const expected = expectedConstants(damaged.stamp, damaged.unstamped);
  const wrong = CONSTANT_POSITIONS.filter((at) => bytes[at] !== expected[at]);
  if (wrong.length > 1) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, RECORD_HEADER_BYTE_SIZE);
  const payloadByteSize = view.getUint32(8, true);
  const stored = view.getUint32(CHECKSUM_FIELD_OFFSET, true);
  if (wrong.length === 1) {
    // That byte was the change: with it as it should be, the checksum must hold exactly.
    if (recordByteSize(payloadByteSize) > room) return false;
    const record = Uint8Array.from(await readWhole(RECORD_HEADER_BYTE_SIZE + payloadByteSize));
    record.set(expected.subarray(wrong[0], (wrong[0] as number) + 1), wrong[0]);
    return recordChecksum(record, payloadByteSize) === stored;
  }
  if (recordByteSize(payloadByteSize) <= room) {
    const record = await readWhole(RECORD_HEADER_BYTE_SIZE + payloadByteSize);
    const syndrome = (recordChecksum(record, payloadByteSize) ^ stored) >>> 0;
    if (syndrome === 0 || oneByteWide(syndrome)) return true;
    if (oneByteSyndrome(syndrome, RECORD_HEADER_BYTE_SIZE + payloadByteSize)) return true;
  }
  return lengthFieldFlipExplains(view, room, stored, readWhole);
}

// 1 MiB: a length field's flip is looked for in records up to this size, so the search checks
// about 20 MiB at most (255 candidates per byte of the field, most of them small).
const LENGTH_FLIP_SEARCH_BYTE_SIZE_MAX = 1024 * 1024;

/** Whether a length field with one byte changed back makes the checksum hold. */
async function lengthFieldFlipExplains(
  view: DataView,
  room: number,
  stored: number,
  readWhole: (byteSize: number) => Promise<Uint8Array>,
): Promise<boolean> {
  const payloadByteSize = view.getUint32(8, true);
  const limit = Math.min(room, LENGTH_FLIP_SEARCH_BYTE_SIZE_MAX);
  const candidates: number[] = [];
  for (let shift = 0; shift < 32; shift += 8) {
    for (let value = 0; value < 256; value++) {
      const other = ((payloadByteSize & ~(0xff << shift)) | (value << shift)) >>> 0;
      if (other !== payloadByteSize && recordByteSize(other) <= limit) candidates.push(other);
    }
  }
  if (candidates.length === 0) return false;
  const longest = Math.max(...candidates);
  const record = Uint8Array.from(await readWhole(RECORD_HEADER_BYTE_SIZE + longest));
  const header = new DataView(record.buffer);
  for (const other of candidates) {
    header.setUint32(8, other, true);
    if (recordChecksum(record, other) === stored) return true;
  }
  return false;
}

/**
 * Probes of one segment's bytes at an offset, for the damage survey of LogDamage.ts (whose
 * module comment gives the rule these serve): which bytes of a segment its current life wrote,
 * the valid record there, the next offset where a record could start, and whether a bad record
 * shows the lost sector a torn write leaves.
 */
import {
  decodeRecord,
  type FlushAdapter,
  isLiveRecord,
  RECORD_ALIGNMENT,
  RECORD_FORMAT_VERSION,
  RECORD_HEADER_BYTE_SIZE,
  recordByteSize,
  type SegmentNumber,
  segmentStamp,
  UNSTAMPED_RECORD_FORMAT_VERSION,
} from "@spool/core";
import { explainedByOneByte } from "./OneByteDamage.js";
import { tornPaddingRecord, unstampedLiveIn } from "./RecordScanner.js";
import { lastNonZeroOffset, SegmentWindow } from "./SegmentWindow.js";

// 512 bytes: the smallest unit a disk writes atomically (a sector); a lost one reads as zero.
const SECTOR_BYTE_SIZE = 512;
// RECORD_MAGIC ("SPOL") as bytes: a record can only start where these are (see nextCandidate).
const MAGIC_BYTES = Buffer.from([0x53, 0x50, 0x4f, 0x4c]);

/**
 * One segment being surveyed: its bytes a chunk at a time, which life its records must belong
 * to, and where the last byte its current life may have written is.
 */
export interface SegmentInSurvey {
  readonly adapter: FlushAdapter;
  readonly segment: SegmentNumber;
  readonly window: SegmentWindow;
  /**
   * The offset of the last byte the segment's current life may have written past the survey's
   * start: its last non-zero byte if it was zero-filled; if it was recycled, the last byte of
   * the last record stamped with its stamp (what follows is its earlier life's).
   */
  readonly lastWritten: number;
  /** Whether the segment holds bytes of an earlier life (a stale record was found in it). */
  readonly recycled: boolean;
  /** Whether its live records are unstamped (it begins with a format 1 record). */
  readonly unstampedLive: boolean;
}

/**
 * The segment as the survey sees it from `from` on, or undefined when nothing there belongs to
 * its current life (zeros, or only an earlier life's bytes). One pass over the candidates for a
 * record start finds the last record stamped with this segment's stamp and whether any record
 * with a valid checksum belongs to another life (then the segment was recycled).
 */
export async function segmentInSurvey(
  adapter: FlushAdapter,
  segment: SegmentNumber,
  from: number,
  segmentByteSize: number,
): Promise<SegmentInSurvey | undefined> {
  const lastNonZero = await lastNonZeroOffset(adapter, segment, from, segmentByteSize);
  if (lastNonZero < 0) return undefined;
  const window = new SegmentWindow(adapter, segment, segmentByteSize);
  const unstampedLive = unstampedLiveIn((await decodeAt(window, 0)).decoded);
  const stamp = segmentStamp(segment);
  let lastStamped = -1;
  let recycled = false;
  for (let at = await nextCandidate(window, from, lastNonZero); at <= lastNonZero; ) {
    const { bytes, at: index } = await window.cover(at, RECORD_HEADER_BYTE_SIZE);
    const version = readU16(bytes, index + 4);
    const shaped = readU16(bytes, index + 6) === RECORD_HEADER_BYTE_SIZE;
    // A segment written before stamps may go on with stamped records (the one that was the
    // tail when this version first opened the spool).
    const ours =
      (unstampedLive && version === UNSTAMPED_RECORD_FORMAT_VERSION) ||
      (version === RECORD_FORMAT_VERSION && readU32(bytes, index + 36) === stamp);
    if (shaped && ours) {
      const end = Math.min(segmentByteSize, at + recordByteSize(readU32(bytes, index + 8)));
      lastStamped = Math.max(lastStamped, end - 1);
    } else if (shaped && !recycled) {
      const { decoded } = await decodeAt(window, at);
      recycled = decoded.ok && !isLiveRecord(decoded.header, segment, unstampedLive);
    }
    at = await nextCandidate(window, at + RECORD_ALIGNMENT, lastNonZero);
  }
  const lastWritten = recycled ? lastStamped : lastNonZero;
  if (lastWritten < from) return undefined;
  return {
    adapter,
    segment,
    window: new SegmentWindow(adapter, segment, segmentByteSize),
    lastWritten,
    recycled,
    unstampedLive,
  };
}

/** A record decoded from the window at `offset`: whole, even if longer than a chunk. */
export async function decodeAt(window: SegmentWindow, offset: number) {
  let { bytes, at } = await window.cover(offset, RECORD_HEADER_BYTE_SIZE);
  let decoded = decodeRecord(bytes, at);
  if (!decoded.ok && decoded.defect === "length" && decoded.needBytes !== undefined) {
    ({ bytes, at } = await window.cover(offset, decoded.needBytes));
    decoded = decodeRecord(bytes, at);
  }
  return { decoded, bytes, at };
}

/** A valid record found by {@link validRecordAt}, with the bytes that hold it. */
export type ValidRecord = NonNullable<Awaited<ReturnType<typeof validRecordAt>>>;

/**
 * The record at `offset` if it is valid (padding aside), belongs to the segment's current life
 * and continues the log past `lastSeq`, with the window's bytes that hold it.
 */
export async function validRecordAt(where: SegmentInSurvey, offset: number, lastSeq: number) {
  const { decoded, bytes, at } = await decodeAt(where.window, offset);
  const live = (header: Parameters<typeof isLiveRecord>[0]) =>
    isLiveRecord(header, where.segment, where.unstampedLive) && header.seq > lastSeq;
  if (decoded.ok) {
    if (!live(decoded.header)) return undefined;
    return { ...decoded, paddingDamaged: false, bytes, at };
  }
  if (decoded.defect !== "padding") return undefined;
  if (where.recycled) {
    const place = { chunk: bytes, at, offset };
    const torn = await tornPaddingRecord(where.adapter, where.segment, place, where.window.end);
    if (torn?.ok && live(torn.header)) return { ...torn, paddingDamaged: false, bytes, at };
  }
  // The checksum held: read it again with its padding zeroed to learn its header.
  const payloadByteSize = readU32(bytes, at + 8);
  // A copy: `bytes` may be a Buffer, whose slice is a view of the bytes read.
  const copy = Uint8Array.from(bytes.subarray(at, at + recordByteSize(payloadByteSize)));
  copy.fill(0, RECORD_HEADER_BYTE_SIZE + payloadByteSize);
  const again = decodeRecord(copy, 0);
  if (!again.ok || !live(again.header)) return undefined;
  return { ...again, paddingDamaged: true, bytes, at };
}

/** The little-endian u64 at `at` (seqs stay below 2^53), or 0 past the end. */
export function readU64(bytes: Uint8Array, at: number): number {
  return readU32(bytes, at + 4) * 0x1_0000_0000 + readU32(bytes, at);
}

/** The little-endian u16 at `at`, or 0 past the end. */
function readU16(bytes: Uint8Array, at: number): number {
  if (at + 2 > bytes.byteLength) return 0;
  return new DataView(bytes.buffer, bytes.byteOffset + at, 2).getUint16(0, true);
}

/** The little-endian u32 at `at`, or 0 past the end (a header cut short reads as zeros). */
function readU32(bytes: Uint8Array, at: number): number {
  if (at + 4 > bytes.byteLength) return 0;
  return new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true);
}

/**
 * The next 8-aligned offset at or after `from` where the magic word is, or the offset past
 * the segment's last non-zero byte when there is none. Searched a window at a time; a magic word
 * that straddles a window's end is found from the next window.
 */
export async function nextCandidate(
  window: SegmentWindow,
  from: number,
  lastNonZero: number,
): Promise<number> {
  let offset = from;
  while (offset <= lastNonZero) {
    const { bytes, at } = await window.cover(offset, MAGIC_BYTES.byteLength);
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let search = at; ; ) {
      const found = view.indexOf(MAGIC_BYTES, search);
      if (found < 0) break;
      const candidate = offset + found - at;
      if (candidate % RECORD_ALIGNMENT === 0) return candidate;
      search = found + 1;
    }
    const windowEnd = offset + bytes.byteLength - at;
    if (windowEnd - offset < MAGIC_BYTES.byteLength) break;
    // The one aligned offset whose magic word could straddle the window's end.
    offset = alignUp(windowEnd - MAGIC_BYTES.byteLength + 1);
  }
  return lastNonZero + 1;
}

/** `offset` rounded up to the record alignment (8 bytes). */
export function alignUp(offset: number): number {
  return Math.ceil(offset / RECORD_ALIGNMENT) * RECORD_ALIGNMENT;
}

/**
 * Whether the bad record at `offset` can be a torn write (LogDamage.ts gives the rule): one
 * changed byte does not explain its checksum (OneByteDamage.ts), and, in a zero-filled segment,
 * it shows a lost sector (its magic word is zero, or a whole 512-byte sector starting inside the
 * bytes its header says its checksum covers is zero and is followed by written bytes). In a
 * recycled segment a lost sector reads as the segment's earlier life, which has no mark of its
 * own a sector at a time: there the one-byte test alone tells a flipped byte from a tear.
 */
export async function tornShaped(
  where: SegmentInSurvey,
  segmentByteSize: number,
  offset: number,
): Promise<boolean> {
  if (!where.recycled && !(await lostSectorShaped(where, segmentByteSize, offset))) return false;
  const { bytes, at } = await where.window.cover(offset, RECORD_HEADER_BYTE_SIZE);
  const room = segmentByteSize - offset;
  const damaged = {
    bytes: bytes.subarray(at),
    room,
    stamp: segmentStamp(where.segment),
    unstamped: false,
  };
  // Its own window: the survey's stays at the record, where the walk goes on from.
  const whole = new SegmentWindow(where.adapter, where.segment, segmentByteSize);
  const readWhole = async (byteSize: number) => {
    const covered = await whole.cover(offset, byteSize);
    return covered.bytes.subarray(covered.at, covered.at + byteSize);
  };
  if (await explainedByOneByte(damaged, readWhole)) return false;
  // A segment begun before stamps holds unstamped records, and maybe stamped ones after them.
  return !(
    where.unstampedLive && (await explainedByOneByte({ ...damaged, unstamped: true }, readWhole))
  );
}

/** Whether the bad record at `offset` of a zero-filled segment shows a lost sector. */
async function lostSectorShaped(
  where: SegmentInSurvey,
  segmentByteSize: number,
  offset: number,
): Promise<boolean> {
  const { bytes, at } = await where.window.cover(offset, RECORD_HEADER_BYTE_SIZE);
  if (readU32(bytes, at) === 0) return true;
  const payloadByteSize = readU32(bytes, at + 8);
  const checkedEnd = Math.min(segmentByteSize, offset + RECORD_HEADER_BYTE_SIZE + payloadByteSize);
  // The write ran past the segment's end into the next one, and the sectors from this one's
  // lost sector on are all lost: zeros from a sector boundary inside the record to the end.
  // Written bytes just before the boundary may be zeros too: any inside the header (whose
  // checksum field a flipped byte never zeroes), fewer than 8 in the payload.
  const zerosFrom = where.lastWritten + 1;
  const boundary = Math.ceil(zerosFrom / SECTOR_BYTE_SIZE) * SECTOR_BYTE_SIZE;
  if (
    boundary > offset &&
    boundary < checkedEnd &&
    offset + recordByteSize(payloadByteSize) <= segmentByteSize &&
    (zerosFrom <= offset + RECORD_HEADER_BYTE_SIZE || boundary - zerosFrom < RECORD_ALIGNMENT)
  ) {
    return true;
  }
  // Its own window: the survey's stays at the record, where the walk goes on from.
  const sectors = new SegmentWindow(where.adapter, where.segment, segmentByteSize);
  const firstBoundary = Math.floor(offset / SECTOR_BYTE_SIZE + 1) * SECTOR_BYTE_SIZE;
  for (let b = firstBoundary; b < checkedEnd; b += SECTOR_BYTE_SIZE) {
    if (b + SECTOR_BYTE_SIZE > where.lastWritten) return false;
    const sector = await sectors.cover(b, SECTOR_BYTE_SIZE);
    const view = sector.bytes.subarray(sector.at, sector.at + SECTOR_BYTE_SIZE);
    if (view.every((value) => value === 0)) return true;
  }
  return false;
}

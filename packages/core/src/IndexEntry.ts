/**
 * The index file's entry format (claim 60): a fixed 64-byte entry with an index component
 * (where the record lies) and an entry-info component (where the message is in its life), each
 * entry with its own checksum so a torn index page is detected entry by entry.
 *
 * | offset | size | component  | field                                     |
 * |-------:|-----:|------------|-------------------------------------------|
 * |      0 |    8 | index      | sequence number                           |
 * |      8 |    4 | index      | segment number                            |
 * |     12 |    4 | index      | record's byte offset in the segment       |
 * |     16 |    4 | index      | payload byte size                         |
 * |     20 |    4 | index      | reserved, 0                               |
 * |     24 |    1 | entry-info | state ({@link EntryState})                |
 * |     25 |    1 | entry-info | entry format version (1)                  |
 * |     26 |    2 | entry-info | delivery attempts                         |
 * |     28 |    4 | entry-info | reserved, 0                               |
 * |     32 |    8 | entry-info | enqueued at, ms since the epoch           |
 * |     40 |    8 | entry-info | state changed at, ms since the epoch      |
 * |     48 |    8 | entry-info | not before, ms (lease expiry or retry at) |
 * |     56 |    4 | entry-info | reserved, 0                               |
 * |     60 |    4 | —          | CRC32C of bytes 0..60                     |
 *
 * 64 bytes divide a 4 KiB page exactly, so an entry never straddles a page.
 */
import { checksum } from "./Checksum.js";
import type { ByteOffset, SegmentNumber, Seq } from "./Units.js";

/** Bytes in one index entry. @example INDEX_ENTRY_BYTE_SIZE === 64 */
export const INDEX_ENTRY_BYTE_SIZE = 64;
/** The entry format version this build writes. @example INDEX_ENTRY_FORMAT_VERSION === 1 */
export const INDEX_ENTRY_FORMAT_VERSION = 1;

/**
 * The most delivery attempts an entry counts: its entry-info keeps them in a u16 (offset 26), so
 * a `maxAttempts` above this could never be reached and encoding the 65,536th would throw.
 *
 * @example
 * openSpool({ dir, maxAttempts: ATTEMPTS_MAX }) // retry until some other rule gives up
 */
export const ATTEMPTS_MAX = 0xffff;

/**
 * A message's state in the queue. `empty` is an unused (zeroed) slot.
 *
 * @example
 * const state: EntryState = "queued";
 */
export type EntryState = "empty" | "queued" | "leased" | "done" | "retryWait" | "dead";

const STATE_CODES: readonly EntryState[] = [
  "empty",
  "queued",
  "leased",
  "done",
  "retryWait",
  "dead",
];

/** Where the record lies (claim 60's index component). @example { seq: seq(1), segment: segmentNumber(1), offset: byteOffset(0), payloadByteSize: 5 } */
export interface IndexComponent {
  readonly seq: Seq;
  readonly segment: SegmentNumber;
  readonly offset: ByteOffset;
  readonly payloadByteSize: number;
}

/** Where the message is in its life (claim 60's entry-info component). @example { state: "queued", attempts: 0, enqueuedAtMs: 0, changedAtMs: 0, notBeforeMs: 0 } */
export interface EntryInfoComponent {
  readonly state: EntryState;
  readonly attempts: number;
  readonly enqueuedAtMs: number;
  readonly changedAtMs: number;
  readonly notBeforeMs: number;
}

/** One index entry. @example const entry: IndexEntry = { index, info } */
export interface IndexEntry {
  readonly index: IndexComponent;
  readonly info: EntryInfoComponent;
}

function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value >>> 0, true);
  view.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true);
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * 0x1_0000_0000 + view.getUint32(at, true);
}

/**
 * Encodes an entry into 64 bytes of `target` at `at`.
 *
 * @example
 * encodeIndexEntry(page, 0, entry);
 */
export function encodeIndexEntry(target: Uint8Array, at: number, entry: IndexEntry): void {
  if (at + INDEX_ENTRY_BYTE_SIZE > target.byteLength) throw new RangeError("entry does not fit");
  if (entry.info.attempts > ATTEMPTS_MAX) throw new RangeError("attempts exceed 65535");
  const view = new DataView(target.buffer, target.byteOffset + at, INDEX_ENTRY_BYTE_SIZE);
  writeU64(view, 0, entry.index.seq);
  view.setUint32(8, entry.index.segment, true);
  view.setUint32(12, entry.index.offset, true);
  view.setUint32(16, entry.index.payloadByteSize, true);
  view.setUint32(20, 0, true);
  view.setUint8(24, STATE_CODES.indexOf(entry.info.state));
  view.setUint8(25, INDEX_ENTRY_FORMAT_VERSION);
  view.setUint16(26, entry.info.attempts, true);
  view.setUint32(28, 0, true);
  writeU64(view, 32, entry.info.enqueuedAtMs);
  writeU64(view, 40, entry.info.changedAtMs);
  writeU64(view, 48, entry.info.notBeforeMs);
  view.setUint32(56, 0, true);
  view.setUint32(60, checksum(target.subarray(at, at + 60)), true);
}

/** Why 64 bytes are not a valid entry. @example const d: IndexEntryDefect = "checksum" */
export type IndexEntryDefect = "empty" | "checksum" | "version" | "state";

/**
 * Decodes and verifies the entry at `at`; an all-zero slot is `empty`.
 *
 * @example
 * const decoded = decodeIndexEntry(page, 0);
 * if (decoded.ok) console.log(decoded.entry.info.state);
 */
export function decodeIndexEntry(
  source: Uint8Array,
  at: number,
):
  | { readonly ok: true; readonly entry: IndexEntry }
  | { readonly ok: false; readonly defect: IndexEntryDefect } {
  const view = new DataView(source.buffer, source.byteOffset + at, INDEX_ENTRY_BYTE_SIZE);
  const stored = view.getUint32(60, true);
  if (stored === 0 && source.subarray(at, at + 60).every((byte) => byte === 0)) {
    return { ok: false, defect: "empty" };
  }
  if (checksum(source.subarray(at, at + 60)) !== stored) return { ok: false, defect: "checksum" };
  if (view.getUint8(25) !== INDEX_ENTRY_FORMAT_VERSION) return { ok: false, defect: "version" };
  const state = STATE_CODES[view.getUint8(24)];
  if (state === undefined || state === "empty") return { ok: false, defect: "state" };
  return {
    ok: true,
    entry: {
      index: {
        seq: readU64(view, 0) as Seq,
        segment: view.getUint32(8, true) as SegmentNumber,
        offset: view.getUint32(12, true) as ByteOffset,
        payloadByteSize: view.getUint32(16, true),
      },
      info: {
        state,
        attempts: view.getUint16(26, true),
        enqueuedAtMs: readU64(view, 32),
        changedAtMs: readU64(view, 40),
        notBeforeMs: readU64(view, 48),
      },
    },
  };
}

/**
 * The index entry a record implies when it is first appended (claim 59: rebuildable from the
 * record alone).
 *
 * @example
 * const entry = entryForRecord({ seq, segment, offset, payloadByteSize, appendedAtMs });
 */
export function entryForRecord(
  record: IndexComponent & { readonly appendedAtMs: number },
): IndexEntry {
  return {
    index: {
      seq: record.seq,
      segment: record.segment,
      offset: record.offset,
      payloadByteSize: record.payloadByteSize,
    },
    info: {
      state: "queued",
      attempts: 0,
      enqueuedAtMs: record.appendedAtMs,
      changedAtMs: record.appendedAtMs,
      notBeforeMs: 0,
    },
  };
}

/**
 * Torn tail or corruption: what lies past the point where the record scan stopped.
 *
 * The rule. Records are written in batches of contiguous writes, and a writer is confirmed only
 * once a flush covered its record. A power cut can therefore damage only the region past the
 * last completed flush: the end of the log. Everything there was written into zeros (segments
 * are pre-zeroed, and opening zeroes whatever a torn batch left past the tail, see `cutTail`),
 * and a disk writes a sector (512 bytes, the smallest atomic unit) whole or not at all. So a
 * torn record is one whose sectors are each either as written or zero, and since its bytes are
 * not as written, at least one of its sectors reads as zero: its first (the record's magic word
 * is zero) or a later one (a whole zero sector inside the bytes its header says it checks).
 * Pages of a multi-page write reach the disk in any order, so valid records can follow a torn
 * one: the sectors after a lost one that did reach the disk.
 *
 * A record that fails validation is **corruption**, not a torn tail, when a valid record follows
 * it (later in its segment or in a later segment) and the damage does not have that shape: a
 * flipped or rotted byte leaves the magic word non-zero and zeroes no sector. "Valid record"
 * here means a record whose checksum holds, with zero padding, and whose seq is greater than the
 * last good one (and than the previous valid one): stale records of an earlier torn batch cannot
 * be mistaken for it, because opening zeroes them, and any that survived would carry a seq that
 * does not continue the log. A record whose checksum holds but whose padding is not zero is
 * corruption wherever it lies in a zero-filled segment: a torn write never changes a byte into
 * anything but what was written or zero (in a recycled segment it can: see below, and
 * RecordScanner.ts's tornPaddingRecord). A damaged last record of the log has no valid record
 * after it, so it is treated as torn (unless its own index entry proves it durable): that is the
 * one case the bytes cannot tell apart, and it only ever concerns
 * the last batch, whose writers were not confirmed if it was torn.
 *
 * A write can run past a segment's end into the next segment (two batches in flight, or
 * unflushed `async` batches), so the sectors lost can be the last ones of a segment, with valid
 * records in the next: zeros from a sector boundary inside the record's bytes to the segment's
 * end are that shape too (a flipped byte never ends a record's data exactly on a sector
 * boundary and zeroes the rest).
 *
 * Two proofs the other way, applied by `judgeDamage` (DamageVerdict.ts), the one decision
 * `openSpool`, `spool verify` and salvage share. A tear is bounded: only the bytes that can be
 * unflushed at once (UnflushedBound.ts: two batches and the roll zeros between them, recorded
 * in `spool.json` as the largest any open used) can be torn, so torn-shaped damage followed by
 * a valid record that ends farther than that past the damage's start is corruption. And an
 * index entry is only ever written for a durable record, so damage before a record whose entry
 * names it is corruption whatever its shape.
 *
 * Limits. Within the bound of the log's end, a payload holding a 512-byte aligned run of zeros,
 * or a flip in the length field of a segment's last record whose real data ends on a sector
 * boundary, can make damage look torn (among records nobody took: the index proves the rest).
 * A tear whose surviving bytes just before the lost sector happen to be zeros looks like
 * corruption, and so does a tear of a spool written with larger batches than `spool.json`
 * records (one from before it recorded them is read as the default batching): that errs
 * towards refusing, and `spool recover --salvage` repairs it.
 *
 * Recycled segments (issue 20). A reclaimed segment's file becomes a later segment with its
 * earlier life's records still in it, each stamped with the segment it was written in, so they
 * are stale: "valid record" above also means one stamped with its own segment's stamp, and the
 * bytes past a recycled segment's last record of its own stamp are its unwritten end, as zeros
 * are in a zero-filled one (only those bytes are cut). A torn write's lost sector reads there as
 * the earlier life, not as zeros, so the lost-sector shape cannot prove a tear; instead, damage
 * that one changed byte explains (OneByteDamage.ts: CRC32C syndrome decoding) is corruption,
 * in any segment, and otherwise the unflushed bound and the index decide as above. A segment is
 * taken as recycled when a record with another segment's stamp and a valid checksum lies in it
 * past the scan's end.
 *
 * The survey reads a segment through a 1 MiB window (SegmentWindow.ts), never the whole rest
 * of a segment at once; a record longer than a chunk is read whole.
 */
import {
  type FlushAdapter,
  RECORD_ALIGNMENT,
  RECORD_HEADER_BYTE_SIZE,
  type RecordDefect,
  type RecordHeader,
  type SegmentNumber,
  segmentFileName,
} from "@spool/core";
import {
  alignUp,
  decodeAt,
  nextCandidate,
  readU64,
  type SegmentInSurvey,
  segmentInSurvey,
  tornShaped,
  type ValidRecord,
  validRecordAt,
} from "../internal/RecordProbe.js";
import type { ScanEnd } from "../internal/RecordScanner.js";

/** A record found intact past the point where the scan stopped. @example survey.records[0].seq */
export interface RecordPlace {
  readonly seq: number;
  readonly segment: SegmentNumber;
  readonly offset: number;
  readonly byteSize: number;
  readonly header: RecordHeader;
}

/** Bytes of one segment that belong to a damaged stretch. @example piece.end - piece.offset */
export interface DamagedPiece {
  readonly segment: SegmentNumber;
  readonly offset: number;
  /** One past the last non-zero byte of the piece (8-aligned); zeros follow up to `end`. */
  readonly dataEnd: number;
  /** Where the piece ends: the next valid record, or the segment's end. */
  readonly end: number;
}

/**
 * A stretch of the log that holds no valid record, from its first bad record on.
 *
 * @example
 * if (!range.tornShaped && range.seqTo !== undefined) console.log(range.seqFrom, range.seqTo);
 */
export interface DamagedRange {
  readonly segment: SegmentNumber;
  readonly offset: number;
  readonly defect: RecordDefect | "seq" | "stale";
  /** The seqs it held: from the one after the last good record to the one before the next. */
  readonly seqFrom: number;
  /** Undefined for the stretch after the last valid record (its end is not known). */
  readonly seqTo: number | undefined;
  readonly pieces: readonly DamagedPiece[];
  /** Whether the damage has the shape a power cut leaves (see the module comment). */
  readonly tornShaped: boolean;
}

/**
 * A record whose checksum holds but whose padding is not zero.
 *
 * @example
 * console.log(`${damage.seq}: padding byte ${damage.firstNonZero} is not zero`);
 */
export interface PaddingDamage {
  readonly segment: SegmentNumber;
  readonly offset: number;
  readonly seq: number;
  readonly byteSize: number;
  readonly payloadEnd: number;
  /** The offset of the first non-zero padding byte. */
  readonly firstNonZero: number;
}

/**
 * The first damage that is not a torn tail, as `SpoolCorrupt` reports it.
 *
 * @example
 * if (survey.corruption !== undefined) throw new SpoolCorrupt(survey.corruption);
 */
export interface Corruption {
  readonly file: string;
  readonly offset: number;
  readonly seqFrom: number;
  readonly seqTo: number;
  readonly validRecordsAfter: number;
  readonly reason: string;
}

/** What lies past the scan's end. @example const survey = await surveyTail(adapter, ...) */
export interface TailSurvey {
  /** Valid records past the scan's end, in seq order (padding-damaged ones included). */
  readonly records: readonly RecordPlace[];
  /** Damaged stretches, each followed by a valid record except perhaps the last. */
  readonly ranges: readonly DamagedRange[];
  readonly paddingDamage: readonly PaddingDamage[];
  readonly corruption: Corruption | undefined;
  /**
   * Whether no byte past the scan's end belongs to a segment's current life: all are zeros, or
   * a recycled segment's earlier life (nothing to cut, nothing to report).
   */
  readonly clean: boolean;
  /**
   * The bytes past the scan's end, segment by segment, that a segment's current life may have
   * written (`from` to `to`, exclusive): what cutting a torn tail zeroes. The rest is zeros or
   * an earlier life's stale records, which can never line up with new appends (their stamp).
   */
  readonly written: readonly { readonly segment: SegmentNumber; from: number; to: number }[];
}

/** Where a survey is in the log, and what it has found so far. */
interface SurveyState {
  readonly segmentByteSize: number;
  /**
   * Whether the seq before the first damage is known: false when the scan found no record and
   * the log no longer starts at segment 1 (its first segments were reclaimed).
   */
  readonly lastSeqKnown: boolean;
  lastSeq: number;
  /** Where the last good or valid record ends. */
  lastEnd: { readonly segment: SegmentNumber; readonly offset: number };
  open: (Omit<DamagedRange, "pieces" | "seqTo"> & { pieces: DamagedPiece[] }) | undefined;
  readonly records: RecordPlace[];
  readonly ranges: DamagedRange[];
  readonly paddingDamage: PaddingDamage[];
}

/**
 * Looks past the point where the record scan stopped, in its segment and every later one, for
 * valid records and the damage between them, and decides whether that damage is a torn tail or
 * corruption (see the module comment). Reads only; a segment that holds only zeros past the
 * scan's end costs one compare.
 *
 * @example
 * const survey = await surveyTail(adapter, segments, config.segmentByteSize, scanEnd);
 * if (survey.corruption !== undefined) throw new SpoolCorrupt(survey.corruption);
 */
export async function surveyTail(
  adapter: FlushAdapter,
  segments: readonly SegmentNumber[],
  segmentByteSize: number,
  end: ScanEnd,
): Promise<TailSurvey> {
  const state: SurveyState = {
    segmentByteSize,
    lastSeqKnown: end.lastSeq > 0 || (segments[0] ?? 1) === 1,
    lastSeq: end.lastSeq,
    lastEnd: end.rolledFrom ?? end,
    open: undefined,
    records: [],
    ranges: [],
    paddingDamage: [],
  };
  const written: { segment: SegmentNumber; from: number; to: number }[] = [];
  for (const segment of segments) {
    if (segment < end.segment) continue;
    const from = segment === end.segment ? end.offset : 0;
    if (from >= segmentByteSize) continue;
    // Found once per segment: every bad record's shape and the damaged pieces' ends need it.
    const where = await segmentInSurvey(adapter, segment, from, segmentByteSize);
    if (where === undefined) continue;
    written.push({ segment, from, to: Math.min(segmentByteSize, alignUp(where.lastWritten + 1)) });
    await surveySegment(state, where, from);
  }
  if (state.open !== undefined) state.ranges.push({ ...state.open, seqTo: undefined });
  return {
    records: state.records,
    ranges: state.ranges,
    paddingDamage: state.paddingDamage,
    corruption: firstCorruption(state),
    clean: written.length === 0,
    written,
  };
}

/**
 * Walks one segment from offset `from` on, record by record, resynchronising past damage. All
 * offsets are the segment's; its bytes come through a window of 1 MiB chunks, so a record may
 * straddle two chunks (the window re-reads from the record's start).
 */
async function surveySegment(
  state: SurveyState,
  where: SegmentInSurvey,
  from: number,
): Promise<void> {
  const { segment, lastWritten } = where;
  let at = from;
  while (at < state.segmentByteSize) {
    const found = await validRecordAt(where, at, state.lastSeq);
    if (found !== undefined) {
      accept(state, segment, at, found);
      at += found.byteSize;
      continue;
    }
    // Only zeros or an earlier life left: the unwritten rest of the segment (the writer rolled
    // on, or the log ends).
    if (at > lastWritten) break;
    if (state.open === undefined) await openRange(state, where, at);
    else if (state.open.pieces.at(-1)?.segment !== segment) startPiece(state, segment, at);
    at = await nextCandidate(where.window, at + RECORD_ALIGNMENT, lastWritten);
  }
  endPiece(state, segment, lastWritten);
}

/** Takes a valid record into the survey: it closes the open damaged range, if any. */
function accept(state: SurveyState, segment: SegmentNumber, offset: number, found: ValidRecord) {
  if (state.open === undefined && found.header.seq !== state.lastSeq + 1) {
    state.ranges.push({
      segment,
      offset,
      defect: "seq",
      seqFrom: state.lastSeq + 1,
      seqTo: found.header.seq - 1,
      // The zeros where the skipped records were, for a salvage to put stand-ins in.
      pieces:
        state.lastEnd.segment < segment
          ? [{ ...state.lastEnd, dataEnd: state.lastEnd.offset, end: state.segmentByteSize }]
          : [],
      tornShaped: lostWhole(state, segment, offset, found.header.seq),
    });
  }
  closeRange(state, segment, offset, found.header.seq);
  state.records.push({
    seq: found.header.seq,
    segment,
    offset,
    byteSize: found.byteSize,
    header: found.header,
  });
  if (found.paddingDamaged) {
    const payloadEnd = offset + RECORD_HEADER_BYTE_SIZE + found.header.payloadByteSize;
    const padding = found.bytes.subarray(found.at + payloadEnd - offset, found.at + found.byteSize);
    state.paddingDamage.push({
      segment,
      offset,
      seq: found.header.seq,
      byteSize: found.byteSize,
      payloadEnd,
      firstNonZero: payloadEnd + padding.findIndex((v) => v !== 0),
    });
  }
  state.lastSeq = found.header.seq;
  state.lastEnd = { segment, offset: offset + found.byteSize };
}

/**
 * Whether the seqs a valid record skips can have been lost whole in a power cut: it starts a
 * segment, and the log before it ends in zeros (where the scan rolled) with room for them.
 * A valid record that skips seqs anywhere else, with no damaged bytes before it, is never a
 * torn write.
 */
function lostWhole(state: SurveyState, segment: number, offset: number, seq: number): boolean {
  const skipped = seq - state.lastSeq - 1;
  // Everything between is zero (else a damaged range would be open): the previous segment's
  // end, and any whole segments the scan or the survey passed as zeros.
  const zeroBytes =
    (segment - state.lastEnd.segment) * state.segmentByteSize - state.lastEnd.offset;
  return (
    offset === 0 &&
    segment > state.lastEnd.segment &&
    zeroBytes >= skipped * RECORD_HEADER_BYTE_SIZE
  );
}

async function openRange(state: SurveyState, where: SegmentInSurvey, offset: number) {
  const { decoded, bytes, at } = await decodeAt(where.window, offset);
  state.open = {
    segment: where.segment,
    offset,
    defect: decoded.ok ? (decoded.header.seq > state.lastSeq ? "stale" : "seq") : decoded.defect,
    // With no record before it to count from, the damaged record's own seq field is the best
    // guess there is (closeRange keeps it below the next valid seq).
    seqFrom: counted(state) ? state.lastSeq + 1 : Math.max(1, readU64(bytes, at + 16)),
    tornShaped: await tornShaped(where, state.segmentByteSize, offset),
    pieces: [],
  };
  startPiece(state, where.segment, offset);
}

/** Whether the seqs of damage are counted from the last record (else guessed, see openRange). */
function counted(state: SurveyState): boolean {
  return state.lastSeqKnown || state.lastSeq > 0;
}

function startPiece(state: SurveyState, segment: SegmentNumber, offset: number): void {
  state.open?.pieces.push({ segment, offset, dataEnd: offset, end: offset });
}

/** Closes the open piece at the segment's end, recording where its non-zero bytes end. */
function endPiece(state: SurveyState, segment: SegmentNumber, lastNonZero: number) {
  const piece = state.open?.pieces.at(-1);
  if (piece === undefined || piece.segment !== segment || piece.end !== piece.offset) return;
  const last = Math.max(lastNonZero, piece.offset - 1);
  const dataEnd = alignUp(last + 1);
  state.open?.pieces.splice(-1, 1, { ...piece, dataEnd, end: state.segmentByteSize });
}

/** A valid record at `offset` ends the open damaged range there. */
function closeRange(state: SurveyState, segment: SegmentNumber, offset: number, seq: number) {
  const open = state.open;
  if (open === undefined) return;
  const piece = open.pieces.at(-1);
  if (piece !== undefined && piece.segment === segment && piece.end === piece.offset) {
    open.pieces.splice(-1, 1, { ...piece, dataEnd: offset, end: offset });
  }
  const seqFrom = counted(state) ? open.seqFrom : Math.min(open.seqFrom, seq - 1);
  state.ranges.push({ ...open, seqFrom, seqTo: seq - 1 });
  state.open = undefined;
}

function firstCorruption(state: SurveyState): Corruption | undefined {
  const candidates: Corruption[] = [];
  for (const range of state.ranges) {
    if (range.seqTo === undefined || range.tornShaped) continue;
    candidates.push({
      file: segmentFileName(range.segment),
      offset: range.offset,
      seqFrom: range.seqFrom,
      seqTo: range.seqTo,
      validRecordsAfter: recordsAfter(state.records, range.segment, range.offset),
      reason: `a damaged record (${range.defect}) with valid records after it: not a torn tail`,
    });
  }
  for (const damage of state.paddingDamage) {
    candidates.push({
      file: segmentFileName(damage.segment),
      offset: damage.offset,
      seqFrom: damage.seq,
      seqTo: damage.seq,
      validRecordsAfter: recordsAfter(state.records, damage.segment, damage.offset + 1),
      reason: `record ${damage.seq} has non-zero padding bytes (its checksum holds)`,
    });
  }
  candidates.sort((a, b) => a.file.localeCompare(b.file) || a.offset - b.offset);
  return candidates[0];
}

/**
 * How many of `records` lie at or after `offset` of `segment`.
 *
 * @example
 * const after = recordsAfter(survey.records, range.segment, range.offset);
 */
export function recordsAfter(
  records: readonly RecordPlace[],
  segment: number,
  offset: number,
): number {
  return records.filter(
    (record) => record.segment > segment || (record.segment === segment && record.offset >= offset),
  ).length;
}

/**
 * The one decision on what lies past the record scan's end, shared by `openSpool`, `spool
 * verify` and `spool recover --salvage`, so that they never disagree: nothing, a torn tail
 * (opening cuts it), or corruption (opening refuses with `SpoolCorrupt`, salvage repairs it).
 * The rule is LogDamage.ts's; this module adds the two proofs that damage shaped like a torn
 * write is not one: a valid record after it too far away to have been in flight with it
 * (UnflushedBound.ts), and an index entry naming a record after it.
 */
import { segmentFileName } from "@spool/core";
import type { SlotContent } from "../spool/IndexFile.js";
import {
  type Corruption,
  type DamagedRange,
  type RecordPlace,
  recordsAfter,
  type TailSurvey,
} from "./LogDamage.js";

/**
 * What the damage past the scan's end is.
 *
 * @example
 * if (verdict.kind === "corrupt") throw new SpoolCorrupt(verdict.corruption);
 */
export type DamageVerdict =
  | { readonly kind: "intact" }
  | { readonly kind: "torn" }
  | { readonly kind: "corrupt"; readonly corruption: Corruption };

/**
 * Reads index slots `fromSeq` through `toSeq` (IndexFile.readSlots, or readIndexSlots for the
 * read-only tools).
 *
 * @example
 * const slots: SlotReader = (from, to, visit) => index.readSlots(from, to, visit);
 */
export type SlotReader = (
  fromSeq: number,
  toSeq: number,
  visit: (slotSeq: number, content: SlotContent) => void,
) => Promise<void>;

/** What the verdict needs to know of the log's geometry and of how it was written. */
export interface VerdictLimits {
  readonly segmentByteSize: number;
  /** The most bytes that could have been unflushed at once (UnflushedBound.ts). */
  readonly unflushedByteSizeMax: number;
}

/**
 * Decides whether the damage a survey found is a torn tail or corruption: corruption when its
 * shape is not a torn write's or a record's padding is not zero (LogDamage.ts), when a valid
 * record after torn-shaped damage ends farther past the damage's start than could have been
 * unflushed at once, or when an index entry names a record after it (entries are written only
 * for durable records).
 *
 * @example
 * const verdict = await judgeDamage(survey, limits, (from, to, visit) =>
 *   index.readSlots(from, to, visit));
 */
export async function judgeDamage(
  survey: TailSurvey,
  limits: VerdictLimits,
  readSlots: SlotReader,
): Promise<DamageVerdict> {
  const corruption =
    earlier(survey.corruption, beyondUnflushed(survey, limits)) ??
    (await durableAfterDamage(readSlots, survey));
  if (corruption !== undefined) return { kind: "corrupt", corruption };
  return survey.clean ? { kind: "intact" } : { kind: "torn" };
}

/** The one of two corruptions that lies first in the log. */
function earlier(a: Corruption | undefined, b: Corruption | undefined): Corruption | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return a.file.localeCompare(b.file) < 0 || (a.file === b.file && a.offset <= b.offset) ? a : b;
}

/** A position in the log as a byte count from the start of segment 1 (segments have one size). */
function logByte(segmentByteSize: number, segment: number, offset: number): number {
  return (segment - 1) * segmentByteSize + offset;
}

/**
 * The first torn-shaped damaged range with a valid record after it that ends farther past the
 * range's start than the bound: that record was flushed before the damage could have been
 * written, so the damage is not a torn write. The first such range is the one with the
 * earliest start (the last valid record is the farthest from it).
 */
function beyondUnflushed(survey: TailSurvey, limits: VerdictLimits): Corruption | undefined {
  const last = survey.records.at(-1);
  if (last === undefined) return undefined;
  const { segmentByteSize, unflushedByteSizeMax } = limits;
  const lastEnd = logByte(segmentByteSize, last.segment, last.offset + last.byteSize);
  for (const range of survey.ranges) {
    if (range.seqTo === undefined || !range.tornShaped) continue;
    // A seq gap's damage starts where the missing records would have been (its first piece).
    const start = range.pieces[0] ?? range;
    const distance = lastEnd - logByte(segmentByteSize, start.segment, start.offset);
    if (distance <= unflushedByteSizeMax) return undefined;
    return corruptionOf(
      range,
      recordsAfter(survey.records, range.segment, range.offset),
      `a damaged record (${range.defect}) followed by valid records up to ${distance} bytes ` +
        `after it, more than the ${unflushedByteSizeMax} that can be unflushed at once: ` +
        "not a torn tail",
    );
  }
  return undefined;
}

function corruptionOf(range: DamagedRange, validRecordsAfter: number, reason: string): Corruption {
  return {
    file: segmentFileName(range.segment),
    offset: range.offset,
    seqFrom: range.seqFrom,
    seqTo: range.seqTo ?? range.seqFrom,
    validRecordsAfter,
    reason,
  };
}

/**
 * The damage as corruption if a record in it or after it was durable: an index entry names the
 * damaged record's place (the first damaged range's start) or a valid record after it. An entry
 * is only ever written for a record already durable (IndexFile.ts), and a torn tail holds only
 * records that never were, so such an entry proves the damage lies before the end of the
 * flushed log, whatever its shape (a zeroed sector among consumed messages, say, or a flipped
 * byte in the last record of the log once a consumer took it).
 */
async function durableAfterDamage(
  readSlots: SlotReader,
  survey: TailSurvey,
): Promise<Corruption | undefined> {
  const first = survey.ranges[0];
  if (first === undefined) return undefined;
  const last = Math.max(first.seqFrom, survey.records.at(-1)?.seq ?? first.seqFrom);
  const places = new Map<number, Pick<RecordPlace, "seq" | "segment" | "offset">>(
    survey.records.map((record) => [record.seq, record]),
  );
  // A range's start is its damaged record's place (a seq gap's start is the record after it).
  if (!places.has(first.seqFrom)) places.set(first.seqFrom, { ...first, seq: first.seqFrom });
  let durable: Pick<RecordPlace, "seq"> | undefined;
  await readSlots(first.seqFrom, last, (slotSeq, content) => {
    const place = places.get(slotSeq);
    if (durable !== undefined || place === undefined || !content.ok) return;
    const where = content.entry.index;
    if (
      where.seq === place.seq &&
      where.segment === place.segment &&
      where.offset === place.offset
    ) {
      durable = place;
    }
  });
  if (durable === undefined) return undefined;
  const which =
    durable.seq === first.seqFrom && first.seqTo === undefined
      ? `record ${durable.seq}, which was durable (its index entry names it)`
      : `a damaged record (${first.defect}) before or at record ${durable.seq}, which was ` +
        "durable (its index entry names it)";
  return corruptionOf(first, survey.records.length, `${which}: not a torn tail`);
}

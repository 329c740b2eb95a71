/**
 * `spool recover --salvage`: the explicit repair of a spool that `openSpool` refuses as
 * corrupt (see LogDamage.ts). Never run automatically: it gives up the damaged records, which
 * only an operator may decide.
 *
 * What it does: copies every damaged stretch aside (`damaged/<file>@<offset>.bin` in the spool
 * directory), keeps every valid record where it lies, writes a stand-in record for each seq it
 * could not keep (writer {@link LOST_RECORD_WRITER_ID}, a zero payload: the log stays dense and
 * ordered, and the spool counts the seq done, so it is never delivered), zeroes the padding of
 * records whose checksum holds, clears the lost seqs' index entries, and reports exactly which
 * seqs were lost. Damage after the last valid record, and damage `openSpool` judges a torn tail
 * (the one verdict of DamageVerdict.ts), is copied aside and left for `openSpool` to cut.
 */
import { mkdir, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { fileAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  byteOffset,
  byteSize,
  type FlushAdapter,
  LOST_RECORD_WRITER_ID,
  RECORD_HEADER_BYTE_SIZE,
  RecordEncoder,
  type SegmentNumber,
  type SpoolConfig,
  SpoolCorrupt,
  segmentFileName,
  segmentStamp,
  seq,
  writerId,
} from "@spool/core";
import { scanRecords } from "../internal/RecordScanner.js";
import { IndexFile } from "../spool/IndexFile.js";
import { readRecordedManifest } from "../spool/Manifest.js";
import { type DamageVerdict, judgeDamage } from "./DamageVerdict.js";
import {
  type DamagedPiece,
  type DamagedRange,
  type PaddingDamage,
  surveyTail,
  type TailSurvey,
} from "./LogDamage.js";

/**
 * The folder, inside the spool directory, that receives copies of damaged bytes.
 *
 * @example
 * path.join(dir, DAMAGED_FOLDER_NAME) // "./spool-data/damaged"
 */
export const DAMAGED_FOLDER_NAME = "damaged";

/** Seqs from `from` through `to`. @example { from: 5, to: 7 } */
export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

/** What {@link salvageSpool} did. @example report.lostSeqs // [{ from: 5, to: 5 }] */
export interface SalvageReport {
  readonly dir: string;
  /** The seqs whose records were damaged and are gone (stand-ins, counted done, hold them). */
  readonly lostSeqs: readonly SeqRange[];
  /** How many seqs `lostSeqs` covers. */
  readonly lostSeqCount: number;
  /** Records whose checksum held but whose padding was not zero: kept, padding zeroed. */
  readonly repairedSeqs: readonly number[];
  /** Valid records found after damage, all kept. */
  readonly recordsKeptAfterDamage: number;
  /** The copies of damaged bytes, as `damaged/<file>@<offset>.bin` names. */
  readonly damagedCopies: readonly string[];
}

/** Options of {@link salvageSpool}. @example { adapter: memoryAdapter(disk) } */
export interface SalvageOptions {
  readonly adapter?: AdapterFactory;
  /** Keeps a copy of damaged bytes; by default a file in the spool's `damaged/` folder. */
  readonly keepDamaged?: (name: string, bytes: Uint8Array) => Promise<void>;
  /** The append time stand-in records carry; `Date.now` by default. */
  readonly clock?: () => number;
}

/**
 * Repairs a spool that `openSpool` refuses as corrupt, giving up only the damaged records, and
 * says which seqs were lost. Takes the directory's lock: the spool must not be open.
 *
 * @example
 * const report = await salvageSpool("./spool-data");
 * console.log(report.lostSeqs);
 */
export async function salvageSpool(
  dir: string,
  options: SalvageOptions = {},
): Promise<SalvageReport> {
  const factory = options.adapter ?? fileAdapter();
  const { config, unflushedByteSizeMax } = await readRecordedManifest(factory, dir);
  const adapter = await factory({
    dir,
    segmentByteSize: config.segmentByteSize,
    pageByteSize: config.pageByteSize,
  });
  try {
    return await salvageOpened(adapter, { config, unflushedByteSizeMax }, dir, options);
  } finally {
    await adapter.close();
  }
}

async function salvageOpened(
  adapter: FlushAdapter,
  recorded: { readonly config: SpoolConfig; readonly unflushedByteSizeMax: number },
  dir: string,
  options: SalvageOptions,
): Promise<SalvageReport> {
  const { config } = recorded;
  const keep = options.keepDamaged ?? keepInFolder(dir);
  const segments = await adapter.listSegments();
  const scan = scanRecords(adapter, {
    firstSegment: segments[0] ?? (1 as SegmentNumber),
    segments,
    segmentByteSize: config.segmentByteSize,
  });
  let step = await scan.next();
  while (!step.done) step = await scan.next();
  const survey = await surveyTail(adapter, segments, config.segmentByteSize, step.value);
  // What openSpool would decide: a torn tail is left for it to cut (copied aside first); only
  // corruption has its damaged records given up for stand-ins.
  const verdict = await judgeVerdict(options.adapter ?? fileAdapter(), dir, recorded, survey);
  const damagedCopies: string[] = [];
  const lostSeqs: SeqRange[] = [];
  const nowMs = (options.clock ?? Date.now)();
  for (const range of survey.ranges) {
    for (const piece of range.pieces) {
      if (piece.dataEnd <= piece.offset) continue;
      const bytes = await adapter.read(
        piece.segment,
        byteOffset(piece.offset),
        byteSize(piece.dataEnd - piece.offset),
      );
      damagedCopies.push(await keepCopy(keep, piece.segment, piece.offset, bytes));
    }
    if (range.seqTo === undefined || verdict.kind !== "corrupt") continue;
    await writeStandIns(adapter, config.segmentByteSize, range, nowMs);
    lostSeqs.push({ from: range.seqFrom, to: range.seqTo });
  }
  for (const damage of survey.paddingDamage) {
    damagedCopies.push(await repairPadding(adapter, damage, keep));
  }
  await clearLostEntries(options.adapter ?? fileAdapter(), dir, config, lostSeqs);
  return {
    dir,
    lostSeqs,
    lostSeqCount: lostSeqs.reduce((sum, range) => sum + range.to - range.from + 1, 0),
    repairedSeqs: survey.paddingDamage.map((damage) => damage.seq),
    // After a torn tail, openSpool cuts them: they were never acknowledged.
    recordsKeptAfterDamage: verdict.kind === "corrupt" ? survey.records.length : 0,
    damagedCopies,
  };
}

/** The shared verdict (DamageVerdict.ts) on what the survey found, with the index's proof. */
async function judgeVerdict(
  factory: AdapterFactory,
  dir: string,
  recorded: { readonly config: SpoolConfig; readonly unflushedByteSizeMax: number },
  survey: TailSurvey,
): Promise<DamageVerdict> {
  if (survey.clean) return { kind: "intact" };
  const limits = {
    segmentByteSize: recorded.config.segmentByteSize,
    unflushedByteSizeMax: recorded.unflushedByteSizeMax,
  };
  const index = await IndexFile.open(factory, dir, recorded.config, Date.now);
  try {
    return await judgeDamage(survey, limits, (from, to, visit) => index.readSlots(from, to, visit));
  } finally {
    await index.close();
  }
}

function keepInFolder(dir: string) {
  return async (name: string, bytes: Uint8Array): Promise<void> => {
    const folder = path.join(dir, DAMAGED_FOLDER_NAME);
    // 0700/0600: the copies hold message bytes, which are no one else's to read.
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await writeFile(path.join(folder, name), bytes, { mode: 0o600 });
  };
}

async function keepCopy(
  keep: (name: string, bytes: Uint8Array) => Promise<void>,
  segment: SegmentNumber,
  offset: number,
  bytes: Uint8Array,
): Promise<string> {
  const name = `${segmentFileName(segment)}@${offset}.bin`;
  await keep(name, bytes);
  return `${DAMAGED_FOLDER_NAME}/${name}`;
}

/**
 * Fills a damaged range's bytes with stand-in records for its seqs, so the scan reads on to the
 * valid record after it. A piece that ends at a valid record must be filled exactly; one that
 * ends at its segment's end may be left as zeros (the scan rolls past it).
 */
async function writeStandIns(
  adapter: FlushAdapter,
  segmentByteSize: number,
  range: DamagedRange,
  nowMs: number,
): Promise<void> {
  const seqCount = (range.seqTo ?? 0) - range.seqFrom + 1;
  const counts = standInCounts(range, seqCount, segmentByteSize);
  let next = range.seqFrom;
  for (const [at, piece] of range.pieces.entries()) {
    const count = counts[at] ?? 0;
    await fillPiece(adapter, piece, count, next, nowMs);
    next += count;
  }
}

/** How many stand-ins each piece holds: at least 40 bytes each; last pieces filled first. */
function standInCounts(range: DamagedRange, seqCount: number, segmentByteSize: number): number[] {
  const counts = range.pieces.map(() => 0);
  let remaining = seqCount;
  for (let at = range.pieces.length - 1; at >= 0; at--) {
    const piece = range.pieces[at] as DamagedPiece;
    const room = Math.floor((piece.end - piece.offset) / RECORD_HEADER_BYTE_SIZE);
    const count = Math.min(remaining, room);
    if (count === 0 && piece.end < segmentByteSize && piece.end > piece.offset) {
      throw unsalvageable(range, "no room for a stand-in record before the next valid record");
    }
    counts[at] = count;
    remaining -= count;
  }
  if (remaining > 0) throw unsalvageable(range, `no room for ${remaining} stand-in records`);
  return counts;
}

function unsalvageable(range: DamagedRange, why: string): SpoolCorrupt {
  return new SpoolCorrupt({
    file: segmentFileName(range.segment),
    offset: range.offset,
    reason: `cannot salvage: ${why}`,
    seqFrom: range.seqFrom,
    ...(range.seqTo === undefined ? {} : { seqTo: range.seqTo }),
  });
}

/** Writes `count` stand-ins over the piece (the last one takes the rest), or zeros if none. */
async function fillPiece(
  adapter: FlushAdapter,
  piece: DamagedPiece,
  count: number,
  firstSeq: number,
  nowMs: number,
): Promise<void> {
  const region = {
    segment: piece.segment,
    offset: byteOffset(piece.offset),
    byteSize: byteSize(piece.end - piece.offset),
  };
  if (region.byteSize === 0) return;
  await adapter.map(piece.segment);
  const staged = adapter.stage(region);
  staged.fill(0);
  const encoder = new RecordEncoder(staged, count, segmentStamp(piece.segment));
  let at = 0;
  for (let index = 0; index < count; index++) {
    const last = index === count - 1;
    const payload = new Uint8Array(last ? region.byteSize - at - RECORD_HEADER_BYTE_SIZE : 0);
    at += encoder.encode(
      at,
      seq(firstSeq + index),
      writerId(LOST_RECORD_WRITER_ID),
      nowMs,
      payload,
    );
  }
  encoder.seal();
  await adapter.write(region);
  await adapter.flush(region, "sync");
}

/** Copies a record with non-zero padding aside, then writes it back with its padding zeroed. */
async function repairPadding(
  adapter: FlushAdapter,
  damage: PaddingDamage,
  keep: (name: string, bytes: Uint8Array) => Promise<void>,
): Promise<string> {
  const bytes = await adapter.read(
    damage.segment,
    byteOffset(damage.offset),
    byteSize(damage.byteSize),
  );
  const name = await keepCopy(keep, damage.segment, damage.offset, bytes);
  const region = {
    segment: damage.segment,
    offset: byteOffset(damage.offset),
    byteSize: byteSize(damage.byteSize),
  };
  await adapter.map(damage.segment);
  const staged = adapter.stage(region);
  staged.set(bytes);
  staged.fill(0, damage.payloadEnd - damage.offset);
  await adapter.write(region);
  await adapter.flush(region, "sync");
  return name;
}

/** Zeroes the lost seqs' index entries: a stand-in's entry is rebuilt as done at open. */
async function clearLostEntries(
  factory: AdapterFactory,
  dir: string,
  config: SpoolConfig,
  lostSeqs: readonly SeqRange[],
): Promise<void> {
  if (lostSeqs.length === 0) return;
  const index = await IndexFile.open(factory, dir, config, Date.now);
  try {
    for (const range of lostSeqs) await index.clearSlots(range.from, range.to);
  } finally {
    await index.close();
  }
}

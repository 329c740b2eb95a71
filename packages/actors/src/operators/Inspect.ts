/**
 * Read-only looks at a spool directory, for operators and the `spool` CLI: what it holds
 * (`inspectSpool`) and whether every record and index entry is intact (`verifySpool`). Neither
 * takes the directory's lock or writes anything; `openSpool` is what repairs (recovery).
 */
import { stat } from "node:fs/promises";
import { fileAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  byteSize,
  decodeIndexEntry,
  type EntryState,
  type FlushAdapter,
  INDEX_ENTRY_BYTE_SIZE,
  StorageFailed,
  segmentFileName,
  segmentNumber,
  seq,
} from "@spool/core";
import { scanRecords } from "../internal/RecordScanner.js";
import { DEAD_LETTERS_FILE_NAME } from "../spool/DeadLetterStore.js";
import { indexSlot, readIndexSlots } from "../spool/IndexFile.js";
import { readRecordedManifest } from "../spool/Manifest.js";
import { type DamageVerdict, judgeDamage } from "./DamageVerdict.js";
import { surveyTail, type TailSurvey } from "./LogDamage.js";

/** What `inspectSpool` reports. @example const { records, byState } = await inspectSpool(dir) */
export interface SpoolInspection {
  readonly dir: string;
  readonly segmentByteSize: number;
  readonly dataSegments: readonly string[];
  readonly indexSegments: readonly string[];
  readonly bytesOnDisk: number;
  readonly records: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  /** Messages by the state their index entry gives (queued when there is none). */
  readonly byState: Readonly<Record<Exclude<EntryState, "empty">, number>>;
  /** Dead letters kept in `dead-letters.json` (their segments were reclaimed). */
  readonly storedDeadLetters: number;
  /** Age of the oldest message not done, ms; null when none. */
  readonly oldestPendingAgeMs: number | null;
}

/** One thing `verifySpool` found wrong, and where. @example { file: "data-0000000001.seg", offset: 4096, problem: "checksum" } */
export interface VerifyFinding {
  readonly file: string;
  readonly offset: number;
  readonly problem: string;
  /**
   * For damage in the data segments: what `openSpool` makes of the spool's damage, `tornTail`
   * (it cuts it) or `corruption` (it refuses with `SpoolCorrupt`; salvage repairs it).
   */
  readonly damage?: "tornTail" | "corruption";
}

interface OpenedForReading {
  readonly data: FlushAdapter;
  readonly index: FlushAdapter;
  readonly segmentByteSize: number;
  readonly entriesPerSegment: number;
  readonly unflushedByteSizeMax: number;
}

async function openForReading(
  dir: string,
  given: AdapterFactory | undefined,
): Promise<OpenedForReading> {
  // Reading must not create anything: a missing directory is an error here, not a new spool.
  if (given === undefined && (await stat(dir).catch(() => undefined))?.isDirectory() !== true) {
    throw new StorageFailed({ operation: "open", file: dir, code: "ENOENT", cause: undefined });
  }
  const factory = given ?? fileAdapter();
  // The files are read as they were written: with the options spool.json recorded.
  const { config, unflushedByteSizeMax } = await readRecordedManifest(factory, dir);
  const common = { dir, pageByteSize: config.pageByteSize, lock: false } as const;
  const data = await factory({ ...common, segmentByteSize: config.segmentByteSize });
  const index = await factory({
    ...common,
    segmentByteSize: config.indexSegmentEntries * INDEX_ENTRY_BYTE_SIZE,
    fileKind: "index",
  });
  return {
    data,
    index,
    segmentByteSize: config.segmentByteSize,
    entriesPerSegment: config.indexSegmentEntries,
    unflushedByteSizeMax,
  };
}

/** Every record's seq, place and time, and where the log ends. */
// Every 65,536 records: often enough to see a long scan move, rarely enough to cost nothing.
const PROGRESS_EVERY_RECORDS = 65536;

async function readRecords(opened: OpenedForReading, onProgress?: (records: number) => void) {
  const segments = await opened.data.listSegments();
  const scan = scanRecords(opened.data, {
    firstSegment: segments[0] ?? segmentNumber(1),
    segments,
    segmentByteSize: opened.segmentByteSize,
  });
  const records: { seq: number; segment: number; offset: number; size: number; at: number }[] = [];
  let step = await scan.next();
  while (!step.done) {
    const { header, segment, offset } = step.value;
    records.push({
      seq: header.seq,
      segment,
      offset,
      size: header.payloadByteSize,
      at: header.appendedAtMs,
    });
    if (records.length % PROGRESS_EVERY_RECORDS === 0) onProgress?.(records.length);
    step = await scan.next();
  }
  return { segments, records, end: step.value };
}

/**
 * One finding for each damaged stretch and each record with non-zero padding, each marked with
 * what opening makes of the spool's damage (the one verdict `openSpool` and salvage use too).
 */
function damageFindings(survey: TailSurvey, verdict: DamageVerdict): VerifyFinding[] {
  const damage = verdict.kind === "corrupt" ? "corruption" : "tornTail";
  const corruption = verdict.kind === "corrupt" ? verdict.corruption : undefined;
  const findings: VerifyFinding[] = survey.ranges.map((range) => {
    const file = segmentFileName(range.segment);
    const seqs = `seqs ${range.seqFrom}..${range.seqTo}`;
    const problem =
      corruption !== undefined && corruption.file === file && corruption.offset === range.offset
        ? `damaged record(s) holding ${seqs}: corruption (${corruption.reason}); ` +
          "openSpool refuses, spool recover --salvage keeps the rest"
        : range.seqTo === undefined
          ? "bytes after the last intact record (a torn tail; opening cuts it)"
          : range.tornShaped && corruption === undefined
            ? `a torn write (power cut) holding ${seqs}, unacknowledged; opening cuts it ` +
              "and the records after it"
            : `damaged record(s) holding ${seqs}, with valid records after: corruption; ` +
              "openSpool refuses, spool recover --salvage keeps the rest";
    return { file, offset: range.offset, problem: `${range.defect}: ${problem}`, damage };
  });
  for (const padding of survey.paddingDamage) {
    findings.push({
      file: segmentFileName(padding.segment),
      offset: padding.firstNonZero,
      problem: `record ${padding.seq} (at byte ${padding.offset}): non-zero padding byte`,
      damage,
    });
  }
  return findings.sort((a, b) => a.file.localeCompare(b.file) || a.offset - b.offset);
}

/**
 * Reads a spool directory without opening it for writing: segments, record counts, messages
 * by state, oldest pending message.
 *
 * @example
 * const report = await inspectSpool("./spool-data");
 */
export async function inspectSpool(
  dir: string,
  options: {
    readonly adapter?: AdapterFactory;
    readonly nowMs?: number;
    /** Called with the records scanned so far, now and then during a long scan. */
    readonly onProgress?: (records: number) => void;
  } = {},
): Promise<SpoolInspection> {
  const opened = await openForReading(dir, options.adapter);
  try {
    const { segments, records } = await readRecords(opened, options.onProgress);
    const indexSegments = await opened.index.listSegments();
    const byState = { queued: 0, leased: 0, done: 0, retryWait: 0, dead: 0 };
    let oldestPending: number | null = null;
    for (const record of records) {
      const slot = indexSlot(seq(record.seq), opened.entriesPerSegment);
      const bytes = indexSegments.includes(slot.segment)
        ? await opened.index.read(slot.segment, slot.offset, byteSize(INDEX_ENTRY_BYTE_SIZE))
        : new Uint8Array(INDEX_ENTRY_BYTE_SIZE);
      const decoded = decodeIndexEntry(bytes, 0);
      const state =
        decoded.ok && decoded.entry.index.seq === record.seq ? decoded.entry.info.state : "queued";
      if (state === "empty") continue;
      byState[state] += 1;
      if (state !== "done" && state !== "dead") oldestPending ??= record.at;
    }
    const stored = await opened.data.readManifest(DEAD_LETTERS_FILE_NAME);
    const storedDeadLetters =
      stored === null ? 0 : (JSON.parse(stored) as { letters: unknown[] }).letters.length;
    const indexBytes = indexSegments.length * opened.entriesPerSegment * INDEX_ENTRY_BYTE_SIZE;
    return {
      dir,
      segmentByteSize: opened.segmentByteSize,
      dataSegments: segments.map((segment) => segmentFileName(segment)),
      indexSegments: indexSegments.map((segment) => segmentFileName(segment, "index")),
      bytesOnDisk: segments.length * opened.segmentByteSize + indexBytes,
      records: records.length,
      firstSeq: records[0]?.seq ?? null,
      lastSeq: records.at(-1)?.seq ?? null,
      byState,
      storedDeadLetters,
      oldestPendingAgeMs:
        oldestPending === null ? null : (options.nowMs ?? Date.now()) - oldestPending,
    };
  } finally {
    await opened.data.close();
    await opened.index.close();
  }
}

/**
 * Checks every byte of the data segments (records, their padding, the zeros after them) and
 * every index entry of a spool directory without changing it. Findings say what and where
 * (file and byte offset); an empty list means intact. A torn tail (a batch cut by a crash) is a
 * finding that opening the spool repairs; damage with valid records after it is corruption,
 * which `spool recover --salvage` repairs.
 *
 * @example
 * const findings = await verifySpool("./spool-data");
 * if (findings.length > 0) process.exitCode = 1;
 */
export async function verifySpool(
  dir: string,
  options: {
    readonly adapter?: AdapterFactory;
    /** Called with the records scanned so far, now and then during a long scan. */
    readonly onProgress?: (records: number) => void;
  } = {},
): Promise<VerifyFinding[]> {
  const opened = await openForReading(dir, options.adapter);
  const findings: VerifyFinding[] = [];
  try {
    const { segments, records, end } = await readRecords(opened, options.onProgress);
    const survey = await surveyTail(opened.data, segments, opened.segmentByteSize, end);
    const limits = {
      segmentByteSize: opened.segmentByteSize,
      unflushedByteSizeMax: opened.unflushedByteSizeMax,
    };
    const verdict = await judgeDamage(survey, limits, (fromSeq, toSeq, visit) =>
      readIndexSlots(opened.index, opened.entriesPerSegment, { fromSeq, toSeq }, visit),
    );
    findings.push(...damageFindings(survey, verdict));
    // Records past the damage are checked against their index entries too.
    for (const record of survey.records) {
      records.push({ ...record, size: record.header.payloadByteSize, at: 0 });
    }
    const indexSegments = new Set<number>(await opened.index.listSegments());
    for (const record of records) {
      const slot = indexSlot(seq(record.seq), opened.entriesPerSegment);
      if (!indexSegments.has(slot.segment)) continue;
      const bytes = await opened.index.read(
        slot.segment,
        slot.offset,
        byteSize(INDEX_ENTRY_BYTE_SIZE),
      );
      const decoded = decodeIndexEntry(bytes, 0);
      const file = segmentFileName(slot.segment, "index");
      if (!decoded.ok) {
        if (decoded.defect !== "empty") {
          findings.push({
            file,
            offset: slot.offset,
            problem: `entry ${record.seq}: ${decoded.defect}`,
          });
        }
        continue;
      }
      const where = decoded.entry.index;
      if (
        where.seq !== record.seq ||
        where.segment !== record.segment ||
        where.offset !== record.offset
      ) {
        findings.push({
          file,
          offset: slot.offset,
          problem: `entry ${record.seq} names another record`,
        });
      }
    }
    return findings;
  } finally {
    await opened.data.close();
    await opened.index.close();
  }
}

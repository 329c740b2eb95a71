/**
 * Opening and recovery: reconciles `spool.json`, restores the append position from the data
 * segments (cutting a torn tail, refusing corruption), and rebuilds the consumers' queue from
 * both files, before `openSpool` wraps what it found in a `Spool`.
 */
import { fileAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  type AppendCursor,
  byteOffset,
  byteSize,
  ConfigInvalid,
  ConsumerQueue,
  type FlushAdapter,
  LOST_RECORD_WRITER_ID,
  type MessageLocation,
  RECORD_HEADER_BYTE_SIZE,
  resolveConfig,
  type Seq,
  type SpoolConfig,
  SpoolCorrupt,
  type SpoolOptions,
  segmentNumber,
  seq,
} from "@spool/core";
import { type ScannedRecord, scanRecords } from "../internal/RecordScanner.js";
import type { synchronizerMachine } from "../machines/SynchronizerMachine.js";
import { judgeDamage } from "../operators/DamageVerdict.js";
import { surveyTail, type TailSurvey } from "../operators/LogDamage.js";
import type { InspectionObserver } from "../synchronizer/Synchronizer.js";
import {
  type SynchronizerExtensions,
  synchronizerExtensions,
} from "../synchronizer/SynchronizerExtensions.js";
import { DeadLetterStore } from "./DeadLetterStore.js";
import { IndexFile } from "./IndexFile.js";
import {
  parseManifest,
  reconcileManifest,
  recordedUnflushedByteSizeMax,
  recordUnflushedByteSizeMax,
} from "./Manifest.js";

/** Options of {@link openSpool}: the directory, the adapter, a clock, and {@link SpoolOptions}. @example { dir: "./spool-data" } */
export interface OpenSpoolOptions extends SpoolOptions {
  /** The spool directory; created when missing. */
  readonly dir: string;
  /**
   * The storage adapter; `fileAdapter()` (pwrite + fdatasync) by default, because it measured
   * 1.4-4.5 times the mmap adapter here (see the README). `mmapAdapter()` writes through the map.
   */
  readonly adapter?: AdapterFactory;
  /** Milliseconds since the epoch; `Date.now` by default (tests inject their own). */
  readonly clock?: () => number;
  /**
   * The machine the data synchronizer runs (claim 64): {@link synchronizerMachine} by default,
   * or one made from it with `synchronizerMachine.provide({ actors })`, to change how a batch is
   * written and flushed (`flushBatch`), say. A machine not made from it is `ConfigInvalid`: the
   * runtime relies on its states and events.
   *
   * @example
   * const machine = synchronizerMachine.provide({ actors: { flushBatch } });
   * const spool = await openSpool({ dir, synchronizerMachine: machine });
   */
  readonly synchronizerMachine?: typeof synchronizerMachine;
  /**
   * Hears the data synchronizer's xstate inspection events (`@xstate.snapshot`,
   * `@xstate.event`, ...), as `createActor`'s `inspect` option does: a function or an observer.
   *
   * @example
   * openSpool({ dir, inspect: (event) => console.log(event.type) })
   */
  readonly inspect?: InspectionObserver;
}

/** What opening found on disk and did about it. @example spool.recovery.recordsScanned */
export interface OpenReport {
  readonly recordsScanned: number;
  readonly tornTailTruncated: boolean;
  /** Records with no index entry yet: queued, as their record says (claim 59). */
  readonly entriesMissing: number;
  /**
   * Entries that could not be trusted (bad checksum, or naming another record): rebuilt from
   * their record as queued, so the message is delivered again (at-least-once), never dropped.
   */
  readonly entriesRebuilt: number;
  /** Entries past the end of the data (their record is gone): counted and zeroed. */
  readonly entriesOrphaned: number;
  /** Leases held when the spool last stopped, returned to the queue. */
  readonly leasesReturned: number;
  /** Messages not done, by state, after recovery. */
  readonly messages: { readonly queued: number; readonly retryWait: number; readonly dead: number };
  readonly durationMs: number;
}

/** What opening found and opened: the files, the queue rebuilt from them, and the report. */
export interface RecoveredSpool {
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly adapter: FlushAdapter;
  readonly index: IndexFile;
  readonly queue: ConsumerQueue;
  readonly deadLetterStore: DeadLetterStore;
  /** The first seq of each data segment that holds records, oldest first. */
  readonly segmentStarts: ReadonlyMap<number, number>;
  readonly cursor: AppendCursor;
  readonly clock: () => number;
  readonly recovery: OpenReport;
  /** The user's machine and inspector for the data synchronizer, checked. */
  readonly extensions: SynchronizerExtensions;
}

/**
 * Opens (or creates) a spool's files and recovers its state, then hands them to `open` (which
 * builds the spool); if recovery or `open` throws, the files are closed again.
 *
 * @example
 * const spool = await recoverSpool({ dir: "./spool-data" }, (recovered) => new Spool(recovered));
 */
export async function recoverSpool<Opened>(
  options: OpenSpoolOptions,
  open: (recovered: RecoveredSpool) => Opened,
): Promise<Opened> {
  const { dir, adapter: factory, clock, synchronizerMachine, inspect, ...tunables } = options;
  if (typeof dir !== "string" || dir.length === 0) {
    throw new ConfigInvalid({ field: "dir", message: "dir: must be a non-empty path" });
  }
  const extensions = synchronizerExtensions(synchronizerMachine, inspect);
  const requested = resolveConfig(tunables);
  const startedAtMs = performance.now();
  const openAdapter = (config: SpoolConfig) =>
    (factory ?? fileAdapter())({
      dir,
      segmentByteSize: config.segmentByteSize,
      pageByteSize: config.pageByteSize,
      fileMode: config.fileMode,
      directoryMode: config.directoryMode,
    });
  let adapter = await openAdapter(requested);
  try {
    const config = await reconcileManifest(adapter, requested, tunables, dir);
    if (
      config.segmentByteSize !== requested.segmentByteSize ||
      config.pageByteSize !== requested.pageByteSize
    ) {
      // The manifest's sizes win over the defaults: reopen the adapter with them.
      await adapter.close();
      adapter = await openAdapter(config);
    }
    const index = await IndexFile.open(factory ?? fileAdapter(), dir, config, clock ?? Date.now);
    try {
      const restoredLog = await restoreCursor(adapter, config, index);
      // Before any write under this configuration: later opens judge its tears by it.
      await recordUnflushedByteSizeMax(adapter, config);
      const { cursor, recordsScanned, torn, locations, lost } = restoredLog;
      const restored = await restoreQueue(index, config, { locations, lost }, cursor.nextSeq);
      const { queue, found } = restored;
      const deadLetterStore = await DeadLetterStore.open(adapter);
      const report: OpenReport = {
        recordsScanned,
        tornTailTruncated: torn,
        ...found,
        durationMs: performance.now() - startedAtMs,
      };
      const segmentStarts = new Map<number, number>();
      for (const location of locations) {
        if (!segmentStarts.has(location.segment)) segmentStarts.set(location.segment, location.seq);
      }
      return open({
        dir,
        config,
        adapter,
        index,
        queue,
        deadLetterStore,
        segmentStarts,
        cursor,
        clock: clock ?? Date.now,
        recovery: report,
        extensions,
      });
    } catch (error) {
      await index.close();
      throw error;
    }
  } catch (error) {
    await adapter.close();
    throw error;
  }
}

/**
 * Claims 59, 61: the consumers' state from both files. Each durable record's entry is checked
 * against the record; a missing entry means queued, an untrusted one is rebuilt from the record.
 */
async function restoreQueue(
  index: IndexFile,
  config: SpoolConfig,
  log: { readonly locations: readonly MessageLocation[]; readonly lost: ReadonlySet<number> },
  nextSeq: Seq,
) {
  const { locations, lost } = log;
  const queue = new ConsumerQueue(config.maxAttempts);
  const found = {
    entriesMissing: 0,
    entriesRebuilt: 0,
    entriesOrphaned: 0,
    leasesReturned: 0,
    messages: { queued: 0, retryWait: 0, dead: 0 },
  };
  const first = locations[0]?.seq ?? nextSeq;
  const last = nextSeq - 1;
  await index.readSlots(first, last, (slotSeq, content) => {
    const location = locations[slotSeq - first];
    if (location === undefined || location.seq !== slotSeq) return;
    // A salvage's stand-in for a lost record is done, whatever its entry says.
    if (lost.has(slotSeq)) return queue.add(location, "done", 0, 0);
    if (!content.ok) {
      if (content.defect === "empty") found.entriesMissing += 1;
      else found.entriesRebuilt += 1;
      found.messages.queued += 1;
      queue.addFresh(location);
      return;
    }
    const { index: where, info } = content.entry;
    const matches =
      where.seq === location.seq &&
      where.segment === location.segment &&
      where.offset === location.offset &&
      where.payloadByteSize === location.payloadByteSize;
    if (!matches) {
      found.entriesRebuilt += 1;
      found.messages.queued += 1;
      queue.addFresh(location);
      return;
    }
    if (info.state === "leased") found.leasesReturned += 1;
    if (info.state === "leased" || info.state === "queued") found.messages.queued += 1;
    if (info.state === "retryWait" || info.state === "dead") found.messages[info.state] += 1;
    queue.add(location, info.state, info.attempts, info.notBeforeMs, info.changedAtMs);
  });
  // Entries past the data's end belong to records that never became durable.
  // Zeroed, so a later append that lands where the lost record was cannot inherit its state.
  found.entriesOrphaned = await index.clearSlots(nextSeq, nextSeq + config.indexSegmentEntries - 1);
  return { queue, found };
}

async function restoreCursor(
  adapter: FlushAdapter,
  config: SpoolConfig,
  index: IndexFile,
): Promise<{
  cursor: AppendCursor;
  recordsScanned: number;
  torn: boolean;
  locations: MessageLocation[];
  lost: Set<number>;
}> {
  const segments = await adapter.listSegments();
  const first = segments[0] ?? segmentNumber(1);
  if (segments.length === 0) await adapter.prepareSegment(first);
  const scan = scanRecords(adapter, {
    firstSegment: first,
    segments,
    segmentByteSize: config.segmentByteSize,
  });
  let recordsScanned = 0;
  const locations: MessageLocation[] = [];
  const lost = new Set<number>();
  const stalePadding: ScannedRecord[] = [];
  let step = await scan.next();
  while (!step.done) {
    recordsScanned += 1;
    const { header, segment, offset } = step.value;
    if (step.value.paddingStale) stalePadding.push(step.value);
    if (header.writerId === LOST_RECORD_WRITER_ID) lost.add(header.seq);
    locations.push({
      seq: header.seq,
      segment,
      offset: byteOffset(offset),
      payloadByteSize: header.payloadByteSize,
      enqueuedAtMs: header.appendedAtMs,
    });
    step = await scan.next();
  }
  const end = step.value;
  // Damage with valid records after it is corruption, not a torn tail: refuse, change nothing.
  const survey = await surveyTail(adapter, segments, config.segmentByteSize, end);
  const limits = {
    segmentByteSize: config.segmentByteSize,
    unflushedByteSizeMax: recordedUnflushedByteSizeMax(
      parseManifest((await adapter.readManifest()) ?? ""),
      config,
    ),
  };
  const verdict = await judgeDamage(survey, limits, (from, to, visit) =>
    index.readSlots(from, to, visit),
  );
  if (verdict.kind === "corrupt") throw new SpoolCorrupt(verdict.corruption);
  for (const record of stalePadding) await zeroPadding(adapter, record);
  // The log may end on a segment that does not exist yet (the last one was full): the cursor
  // starts that segment, which the first batch prepares and maps.
  const torn = verdict.kind === "torn" && (await cutTail(adapter, survey.written));
  return {
    cursor: { segment: end.segment, offset: byteOffset(end.offset), nextSeq: seq(end.lastSeq + 1) },
    recordsScanned,
    torn,
    locations,
    lost,
  };
}

/**
 * Writes a record's padding as zeros again: it read as a recycled segment's stale bytes (a
 * torn write's lost sector whose stale bytes matched the record's own; see tornPaddingRecord),
 * and a record must read back whole, padding included.
 */
async function zeroPadding(adapter: FlushAdapter, record: ScannedRecord): Promise<void> {
  const checkedEnd = record.offset + RECORD_HEADER_BYTE_SIZE + record.header.payloadByteSize;
  const end = record.offset + record.byteSize;
  const region = {
    segment: record.segment,
    offset: byteOffset(checkedEnd),
    byteSize: byteSize(end - checkedEnd),
  };
  await adapter.map(record.segment);
  adapter.stage(region).fill(0);
  await adapter.write(region);
  await adapter.flush(region, "sync");
}

// 1 MiB: the unit of zeroing the tail, so no buffer grows to a segment's size.
const TAIL_CHUNK_BYTE_SIZE = 1024 * 1024;

/**
 * Zeroes the bytes after the last intact record that a segment's current life may have written
 * (`TailSurvey.written`: every non-zero byte of a zero-filled segment, the records stamped with
 * a recycled segment's own stamp), and flushes before anything is appended; called only once
 * `surveyTail` found that damage a torn tail (see LogDamage.ts for the rule). A torn batch can
 * leave a zero header followed by sectors that did reach the disk; left in place, those
 * unacknowledged records could line up with new appends and read back as records nobody
 * acknowledged. A recycled segment's earlier life is left as it is: its stamp is another
 * segment's, so it never reads as this one's. Returns whether anything was zeroed.
 */
async function cutTail(adapter: FlushAdapter, written: TailSurvey["written"]): Promise<boolean> {
  for (const { segment, from, to } of written) {
    await adapter.map(segment);
    for (let at = from; at < to; at += TAIL_CHUNK_BYTE_SIZE) {
      const length = Math.min(TAIL_CHUNK_BYTE_SIZE, to - at);
      const region = { segment, offset: byteOffset(at), byteSize: byteSize(length) };
      adapter.stage(region).fill(0);
      await adapter.write(region);
    }
    const rest = { segment, offset: byteOffset(from), byteSize: byteSize(to - from) };
    await adapter.flush(rest, "sync");
  }
  return written.length > 0;
}

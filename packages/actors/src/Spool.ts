/**
 * `openSpool`: composes the adapter, the synchronizer, the shared lock and the writers over one
 * spool directory, and restores the append position from the data segments on open.
 */
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { fileAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  type AppendCursor,
  byteOffset,
  byteSize,
  ConfigInvalid,
  ConsumerQueue,
  decodeRecord,
  describeValue,
  type FlushAdapter,
  type FlushReason,
  type IndexEntry,
  InvalidArgument,
  LOST_RECORD_WRITER_ID,
  type MessageLocation,
  NotLeased,
  type PlacedWrite,
  recordByteSize,
  resolveConfig,
  type SegmentNumber,
  type Seq,
  SpoolClosed,
  type SpoolConfig,
  SpoolCorrupt,
  type SpoolFailed,
  SpoolFull,
  type SpoolOptions,
  segmentNumber,
  seq,
  type Taken,
  writerId,
} from "@spool/core";
import { judgeDamage } from "./DamageVerdict.js";
import { DeadLetterStore } from "./DeadLetterStore.js";
import { IndexFile } from "./IndexFile.js";
import {
  checkConsumeArguments,
  checkCount,
  checkDurationMs,
  checkFunction,
  checkOptions,
  checkSeq,
} from "./internal/Arguments.js";
import { allZero, scanRecords } from "./internal/RecordScanner.js";
import { surveyTail } from "./LogDamage.js";
import {
  parseManifest,
  reconcileManifest,
  recordedUnflushedByteSizeMax,
  recordUnflushedByteSizeMax,
} from "./Manifest.js";
import { SHARED_LOCK_BYTE_SIZE, SharedMemoryLock } from "./SharedMemoryLock.js";
import { outstandingConfirmations } from "./SlowWriters.js";
import { type FailureListener, FailureSignal } from "./SpoolFailure.js";
import {
  type BatchReport,
  type InspectionObserver,
  Synchronizer,
  type SynchronizerOptions,
} from "./Synchronizer.js";
import { synchronizerMachine } from "./SynchronizerMachine.js";
import { SenderRuntime, Writer } from "./Writer.js";
import {
  type Link,
  type PortHost,
  portLink,
  REMOTE_REQUEST_ID_BASE,
  RemoteEndpoint,
  type ToSpool,
  type ToWriter,
} from "./WriterPort.js";

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

/** A durable record read back. @example for await (const { seq, payload } of spool.records()) {} */
export interface DurableRecord {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  readonly writerId: number;
  readonly appendedAtMs: number;
}

/** What `spool.stats()` reports. @example spool.stats().flushes */
export interface SpoolStats {
  readonly adapter: string;
  /**
   * The synchronizer's state (`receiving`, `writing`, ...): `broken` after an I/O error,
   * `failed` after a fault of the spool's own (see `Spool.onFailure`), `closed` after close.
   */
  readonly state: string;
  readonly flushes: number;
  readonly flushReasons: Readonly<Record<FlushReason, number>>;
  readonly records: number;
  readonly bytes: number;
  readonly batchRecordsMean: number;
  readonly batchRecordsMax: number;
  readonly parked: number;
  readonly skipped: number;
  readonly confirmationsReceived: number;
  readonly confirmationsFailed: number;
  /**
   * Slow writers (issue 17, finding 10): confirmations of confirmation counted after their
   * batch cleared, times a writer was marked slow, writers marked slow now, and the
   * confirmations they still owe (none of which any batch waits for).
   */
  readonly confirmationsLate: number;
  readonly writersMarkedSlow: number;
  readonly slowWriters: number;
  readonly confirmationsOutstanding: number;
  /** Batches written beside another still flushing, and batches written as two (pipelining). */
  readonly writtenAhead: number;
  readonly splits: number;
  /** Data segments deleted because all their messages were done. */
  readonly segmentsReclaimed: number;
  /** Why reclaiming segments stopped, if it failed (segments are then kept, never lost). */
  readonly reclaimFailure: string | null;
  /** Messages not done (dead letters excluded). */
  readonly depth: number;
  /** Messages not done, by state (dead letters moved out of reclaimed segments included). */
  readonly messages: Readonly<Record<"queued" | "leased" | "retryWait" | "dead", number>>;
  /** `consume` answers that came too late: the lease had expired and passed to another. */
  readonly leasesLost: number;
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

/** A message handed to a consumer. @example const lease = await spool.take() */
export interface Lease {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  /** 1 on the first delivery. */
  readonly attempt: number;
}

/** How many batches {@link Spool.recentBatches} keeps: a screenful for a live view. */
export const RECENT_BATCHES = 32;

/** What became of a message ({@link Spool.messageState}). @example "leased" */
export type MessageState = "queued" | "leased" | "retryWait" | "dead" | "done" | "unknown";

/** A message whose attempts ran out. @example for (const d of await spool.deadLetters()) {} */
export interface DeadLetter {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  readonly attempts: number;
}

/** A running `consume` loop. @example const consumer = spool.consume(handler); await consumer.stop() */
export interface Consumer {
  /**
   * Stops taking; resolves once the handlers in progress have finished and been answered, or
   * rejects with the error that stopped the loops (a failed ack, say) if one did.
   */
  stop(): Promise<void>;
}

/** A read-ahead window of the data file. */
interface ReadWindow {
  readonly segment: number;
  readonly offset: number;
  readonly byteSize: number;
  readonly bytes: Promise<Uint8Array>;
}

// 256 KiB: one read serves a few hundred 1 KiB takes, and stays small against a segment.
const READ_AHEAD_BYTE_SIZE = 256 * 1024;

/**
 * Opens (or creates) a spool.
 *
 * @example
 * const spool = await openSpool({ dir: "./spool-data" });
 * const { seq } = await spool.writer().append("hello");
 * await spool.close();
 */
export async function openSpool(options: OpenSpoolOptions): Promise<Spool> {
  const {
    dir,
    adapter: factory,
    clock,
    synchronizerMachine: machine,
    inspect,
    ...tunables
  } = options;
  if (typeof dir !== "string" || dir.length === 0) {
    throw new ConfigInvalid({ field: "dir", message: "dir: must be a non-empty path" });
  }
  const extensions = synchronizerExtensions(machine, inspect);
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
      const spool = new Spool(
        dir,
        config,
        adapter,
        index,
        queue,
        deadLetterStore,
        segmentStarts,
        cursor,
        clock ?? Date.now,
        report,
        extensions,
      );
      return spool;
    } catch (error) {
      await index.close();
      throw error;
    }
  } catch (error) {
    await adapter.close();
    throw error;
  }
}

/** What a spool's user may change in its data synchronizer. */
type SynchronizerExtensions = Pick<SynchronizerOptions, "machine" | "inspect">;

/**
 * The `synchronizerMachine` and `inspect` options, checked: the machine must be
 * {@link synchronizerMachine} or made from it by `provide` (which keeps its config, so the
 * runtime's states and events are the ones it knows), `inspect` a function or an observer.
 */
function synchronizerExtensions(machine: unknown, inspect: unknown): SynchronizerExtensions {
  const isOurs =
    typeof machine === "object" &&
    machine !== null &&
    (machine as { config?: unknown }).config === synchronizerMachine.config;
  if (machine !== undefined && !isOurs) {
    const rule = "must be synchronizerMachine or made from it with provide";
    const message = `synchronizerMachine: ${rule}, not ${describeValue(machine)}`;
    throw new ConfigInvalid({ field: "synchronizerMachine", message });
  }
  const isObserver =
    typeof inspect === "function" ||
    (typeof inspect === "object" &&
      inspect !== null &&
      typeof (inspect as { next?: unknown }).next === "function");
  if (inspect !== undefined && !isObserver) {
    const rule = "must be a function or an observer with next";
    const message = `inspect: ${rule}, not ${describeValue(inspect)}`;
    throw new ConfigInvalid({ field: "inspect", message });
  }
  return {
    ...(machine === undefined ? {} : { machine: machine as typeof synchronizerMachine }),
    ...(inspect === undefined ? {} : { inspect: inspect as InspectionObserver }),
  };
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
  let step = await scan.next();
  while (!step.done) {
    recordsScanned += 1;
    const { header, segment, offset } = step.value;
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
  // The log may end on a segment that does not exist yet (the last one was full): the cursor
  // starts that segment, which the first batch prepares and maps.
  const torn =
    verdict.kind === "torn" &&
    (await cutTail(adapter, config, segments, { segment: end.segment, offset: end.offset }));
  return {
    cursor: { segment: end.segment, offset: byteOffset(end.offset), nextSeq: seq(end.lastSeq + 1) },
    recordsScanned,
    torn,
    locations,
    lost,
  };
}

// 1 MiB: the unit of reading and zeroing the tail, so no buffer grows to a segment's size.
const TAIL_CHUNK_BYTE_SIZE = 1024 * 1024;

/**
 * Zeroes every non-zero byte after the last intact record, in its segment and any later one,
 * and flushes before anything is appended; called only once `surveyTail` found that damage a
 * torn tail (see LogDamage.ts for the rule). A torn batch can leave a zero header followed by
 * sectors that did reach the disk; left in place, those stale records could line up with new
 * appends and read back as records nobody acknowledged. Returns whether anything was zeroed.
 */
async function cutTail(
  adapter: FlushAdapter,
  config: SpoolConfig,
  segments: readonly SegmentNumber[],
  tail: { readonly segment: SegmentNumber; readonly offset: number },
): Promise<boolean> {
  let zeroed = false;
  for (const segment of segments) {
    if (segment < tail.segment) continue;
    const from = segment === tail.segment ? tail.offset : 0;
    if (await allZero(adapter, segment, from, config.segmentByteSize)) continue;
    await adapter.map(segment);
    for (let at = from; at < config.segmentByteSize; at += TAIL_CHUNK_BYTE_SIZE) {
      const length = Math.min(TAIL_CHUNK_BYTE_SIZE, config.segmentByteSize - at);
      const region = { segment, offset: byteOffset(at), byteSize: byteSize(length) };
      adapter.stage(region).fill(0);
      await adapter.write(region);
    }
    const rest = {
      segment,
      offset: byteOffset(from),
      byteSize: byteSize(config.segmentByteSize - from),
    };
    await adapter.flush(rest, "sync");
    zeroed = true;
  }
  return zeroed;
}

/**
 * An open spool. Get writers from it, read its durable records, close it.
 *
 * @example
 * const spool = await openSpool({ dir: "./spool-data" });
 */
export class Spool {
  /** The spool directory. */
  readonly dir: string;
  /** The configuration in force (defaults applied). */
  readonly config: SpoolConfig;
  /** What opening found and did. */
  readonly recovery: OpenReport;
  readonly #adapter: FlushAdapter;
  readonly #index: IndexFile;
  readonly #queue: ConsumerQueue;
  readonly #deadLetterStore: DeadLetterStore;
  /**
   * The highest seq whose batch's flush completed (an async batch's asynchronous flush too): the
   * synchronizer's write confirmations raise it.
   */
  #lastDurableSeq = 0;
  readonly #batchListeners = new Set<(report: BatchReport) => void>();
  readonly #failure = new FailureSignal();
  /** Consumer answers that came after their lease had passed to another (see `consume`). */
  #leasesLost = 0;
  readonly #recentBatches: BatchReport[] = [];
  readonly #clock: () => number;
  /** Consumers waiting for a message to become ready. */
  #readyWaiters: (() => void)[] = [];
  readonly #synchronizer: Synchronizer;
  /** Claim 34's lock, in shared memory so writers in worker threads take the same one. */
  readonly #lock = new SharedMemoryLock(new SharedArrayBuffer(SHARED_LOCK_BYTE_SIZE));
  readonly #remotes = new Set<RemoteEndpoint>();
  #nextRemoteRequestId = REMOTE_REQUEST_ID_BASE;
  readonly #writers = new Set<Writer>();
  readonly #sender: SenderRuntime;
  /** The first seq of each live data segment, oldest first (Map keeps insertion order). */
  readonly #segmentFirstSeq = new Map<number, number>();
  /** Segment deletions run one at a time, after the acks that allow them. */
  #reclaiming: Promise<void> = Promise.resolve();
  #segmentsReclaimed = 0;
  /**
   * Where flushed data ends (async batches' included: what `records()` reads up to), and record
   * bytes accepted but not flushed yet (for the budget).
   */
  #tail: { segment: number; offset: number };
  #pendingBytes = 0;
  /** The last read-ahead window of the data file, for takes in seq order. */
  #readWindow: ReadWindow | undefined;
  #reclaimFailure: unknown;
  // Writer id 0 is this thread's sender; handles count up from 1.
  #nextWriterId = 1;
  #closing: Promise<void> | undefined;

  /** @internal Use {@link openSpool}. */
  constructor(
    dir: string,
    config: SpoolConfig,
    adapter: FlushAdapter,
    index: IndexFile,
    queue: ConsumerQueue,
    deadLetterStore: DeadLetterStore,
    segmentStarts: ReadonlyMap<number, number>,
    cursor: AppendCursor,
    clock: () => number,
    recovery: OpenReport,
    extensions: SynchronizerExtensions = {},
  ) {
    this.dir = dir;
    this.config = config;
    this.recovery = recovery;
    this.#adapter = adapter;
    this.#index = index;
    this.#queue = queue;
    this.#deadLetterStore = deadLetterStore;
    this.#clock = clock;
    const onFlushed = (writes: readonly PlacedWrite[]) => this.#enqueue(writes);
    this.#tail = { segment: cursor.segment, offset: cursor.offset };
    this.#lastDurableSeq = cursor.nextSeq - 1;
    const onBatch = (report: BatchReport) => this.#batchWritten(report);
    // A fault in either synchronizer stops both: the spool fails as one, with one error.
    const onFailure = (failure: SpoolFailed) => {
      index.failWith(failure);
      for (const remote of this.#remotes) remote.spoolFailed(failure);
      this.#failure.raise(failure);
    };
    index.whenFailed((failure) => this.#synchronizer.failWith(failure));
    this.#synchronizer = new Synchronizer({
      dir,
      config,
      adapter,
      cursor,
      clock,
      onFlushed,
      onBatch,
      onFailure,
      ...extensions,
    });
    this.#sender = new SenderRuntime({
      id: writerId(0),
      dir,
      config,
      lock: this.#lock,
      synchronizer: this.#synchronizer,
    });
    for (const [segment, firstSeq] of segmentStarts) this.#segmentFirstSeq.set(segment, firstSeq);
  }

  /**
   * A new writer (claim 34's thread or process), named for stats and logs. Throws
   * `SpoolClosed` after close, `InvalidArgument` for a name that is not a string.
   *
   * @example
   * const writer = spool.writer("smsc-1");
   */
  writer(name?: string): Writer {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    if (name !== undefined && typeof name !== "string") {
      const message = `name: must be a string or omitted, not ${describeValue(name)}`;
      throw new InvalidArgument({ argument: "name", message });
    }
    const id = writerId(this.#nextWriterId++);
    const reserve =
      this.config.diskBudgetBytes === null ? undefined : (size: number) => this.#reserve(size);
    const writer = new Writer(
      id,
      name ?? `writer-${id}`,
      this.#sender,
      this.dir,
      this.config,
      reserve,
    );
    this.#writers.add(writer);
    return writer;
  }

  /**
   * The records in sequence order, from `from` (a seq) on, up to what was flushed when the
   * iteration began (an append made with `durability: "async"` is there once its asynchronous
   * flush completed). The first step rejects with `InvalidArgument` when `options` is not an
   * object or `from` not a whole number from 1.
   *
   * @example
   * for await (const record of spool.records({ from: 1 })) console.log(record.seq);
   */
  async *records(
    options: { readonly from?: number } = {},
  ): AsyncGenerator<DurableRecord, void, undefined> {
    const { from } = checkOptions(options, ["from"]);
    const fromSeq = from === undefined ? undefined : checkSeq(from, "from");
    const segments = await this.#adapter.listSegments();
    // Up to what the synchronizer reported flushed, async batches included (not only up to
    // the last synchronous flush), so a reader sees what a consumer can take.
    const stopAt = { segment: segmentNumber(this.#tail.segment), offset: this.#tail.offset };
    const scan = scanRecords(this.#adapter, {
      firstSegment: segmentNumber(segments[0] ?? 1),
      segments,
      segmentByteSize: this.config.segmentByteSize,
      stopAt,
      ...(fromSeq === undefined ? {} : { fromSeq }),
    });
    for await (const record of scan) {
      // A salvage's stand-in for a lost record carries nothing anyone appended.
      if (record.header.writerId === LOST_RECORD_WRITER_ID) continue;
      yield {
        seq: record.header.seq,
        payload: record.payload,
        writerId: record.header.writerId,
        appendedAtMs: record.header.appendedAtMs,
      };
    }
  }

  /**
   * Counters: flushes and their reasons, records, bytes, batch sizes, parked and skipped
   * requests, confirmations.
   *
   * @example
   * const { flushes, batchRecordsMean } = spool.stats();
   */
  stats(): SpoolStats {
    const stats = this.#synchronizer.stats();
    return {
      adapter: this.#adapter.name,
      state: this.#synchronizer.state(),
      flushes: stats.flushes,
      flushReasons: stats.flushReasons,
      records: stats.recordsWritten,
      bytes: stats.bytesWritten,
      // Mean rounded to two decimals for display; zero flushes gives 0, not NaN.
      batchRecordsMean:
        stats.flushes === 0 ? 0 : Math.round((stats.recordsWritten / stats.flushes) * 100) / 100,
      batchRecordsMax: stats.batchRecordsMax,
      parked: stats.parked,
      skipped: stats.skipped,
      confirmationsReceived: stats.confirmationsReceived,
      confirmationsFailed: stats.confirmationsFailed,
      confirmationsLate: stats.confirmationsLate,
      writersMarkedSlow: stats.writersMarkedSlow,
      slowWriters: this.#synchronizer.slowWriters().length,
      confirmationsOutstanding: outstandingConfirmations(this.#synchronizer.slowWriters()),
      writtenAhead: stats.writtenAhead,
      splits: stats.splits,
      segmentsReclaimed: this.#segmentsReclaimed,
      reclaimFailure: this.#reclaimFailure === undefined ? null : String(this.#reclaimFailure),
      depth: this.#queue.depth,
      messages: this.#messageCounts(),
      leasesLost: this.#leasesLost,
    };
  }

  #messageCounts(): SpoolStats["messages"] {
    const counts = this.#queue.countByState();
    const inQueue = new Set(this.#queue.deadLetters().map((letter) => letter.seq));
    const stored = this.#deadLetterStore.list().filter((letter) => !inQueue.has(letter.seq));
    return { ...counts, dead: counts.dead + stored.length };
  }

  /**
   * Calls `listener` with each batch once it is written and flushed (before its writers hear
   * of it); returns the function that stops it. For metrics and live views; a listener that
   * throws is dropped, so an observer cannot hold up confirmations. Throws `InvalidArgument`
   * (synchronously) when `listener` is not a function.
   *
   * @example
   * const stop = spool.onBatch((batch) => histogram.observe(batch.records));
   */
  onBatch(listener: (report: BatchReport) => void): () => void {
    checkFunction(listener, "listener");
    this.#batchListeners.add(listener);
    return () => this.#batchListeners.delete(listener);
  }

  /**
   * Calls `listener` once if the spool stops on a fault of its own (an exception inside the
   * synchronizer, a writer or the runtime, or an adapter throwing something that is not an
   * I/O error), after every pending append was rejected with the same {@link SpoolFailed}.
   * From then on `stats().state` is `"failed"` and every append rejects with it at once;
   * nothing acknowledged is lost, and reopening the spool goes on. Returns the function that
   * stops the listener; a listener that throws is ignored. Throws `InvalidArgument`
   * (synchronously) when `listener` is not a function.
   *
   * @example
   * spool.onFailure((failure) => { log.error(failure.message); process.exitCode = 1; });
   */
  onFailure(listener: FailureListener): () => void {
    checkFunction(listener, "listener");
    return this.#failure.listen(listener);
  }

  /** The last {@link RECENT_BATCHES} batches, oldest first. @example spool.recentBatches().at(-1) */
  recentBatches(): readonly BatchReport[] {
    return [...this.#recentBatches];
  }

  #batchWritten(report: BatchReport): void {
    this.#recentBatches.push(report);
    if (this.#recentBatches.length > RECENT_BATCHES) this.#recentBatches.shift();
    for (const listener of this.#batchListeners) {
      // A listener is an observer: its failure must not stop the batch's confirmations.
      try {
        listener(report);
      } catch {
        this.#batchListeners.delete(listener);
      }
    }
  }

  /**
   * Flushed appends become consumable (claim 61: the queue's state follows the data), each
   * batch when its own flush completed: an async batch's at its asynchronous flush, not at a
   * later synchronous one.
   */
  #enqueue(writes: readonly PlacedWrite[]): void {
    const nowMs = this.#clock();
    const last = writes.at(-1);
    if (last !== undefined) {
      this.#tail = { segment: last.segment, offset: last.offset + last.byteSize };
      // Writes come in seq order: the last is the highest.
      if (last.seq > this.#lastDurableSeq) this.#lastDurableSeq = last.seq;
    }
    // Per message only the queue's typed-array columns are written: no object, no map lookup
    // (measured: an object and a map lookup per message cost 8% of throughput at 256 writers).
    let written = 0;
    let segment = -1;
    for (const write of writes) {
      written += write.byteSize;
      if (write.segment !== segment) {
        segment = write.segment;
        if (!this.#segmentFirstSeq.has(write.segment)) {
          this.#segmentFirstSeq.set(write.segment, write.seq);
        }
      }
      this.#queue.addFreshFields(
        write.seq,
        write.segment,
        write.offset,
        write.request.payload.byteLength,
        nowMs,
      );
    }
    this.#pendingBytes = Math.max(0, this.#pendingBytes - written);
    // As many idle consumers as there are new messages (one for a retry): waking every idle
    // consumer per batch made all of them race for a handful of messages.
    const waking = this.#readyWaiters.splice(0, Math.max(1, writes.length));
    for (const wake of waking) wake();
  }

  /**
   * Leases the oldest ready message for `leaseMs` (the `leaseMs` option by default), or
   * resolves undefined when none is ready. The lease is recorded in the index file (with its
   * attempt number, so `maxAttempts` holds across crashes) before it is handed out. A message
   * whose attempts are used up becomes a dead letter instead. Rejects with `InvalidArgument`
   * when `options` is not an object or `leaseMs` is not a number of milliseconds from 1 to
   * `DURATION_MS_MAX` (a lease of 0 or less would be expired when handed out, so the next take
   * would hand the same message out again).
   *
   * @example
   * const lease = await spool.take({ leaseMs: 10_000 });
   */
  async take(options: { readonly leaseMs?: number } = {}): Promise<Lease | undefined> {
    const [lease] = await this.takeMany(1, options);
    return lease;
  }

  /**
   * Leases up to `count` ready messages at once, oldest first: their lease entries share one
   * flush of the index file. Resolves an empty array when none is ready. Rejects with
   * `InvalidArgument` when `count` is not a whole number from 1, or as {@link Spool.take} does.
   *
   * @example
   * const leases = await spool.takeMany(32, { leaseMs: 10_000 });
   */
  async takeMany(count: number, options: { readonly leaseMs?: number } = {}): Promise<Lease[]> {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    checkCount(count, "count");
    const given = checkOptions(options, ["leaseMs"]);
    const leaseMs =
      given.leaseMs === undefined
        ? this.config.leaseMs
        : checkDurationMs(given.leaseMs, "leaseMs", 1);
    const dead: IndexEntry[] = [];
    const taken: Taken[] = [];
    const nowMs = this.#clock();
    while (taken.length < count) {
      const next = this.#queue.take(nowMs, leaseMs, dead);
      if (next === undefined) break;
      taken.push(next);
    }
    const deadWrites = dead.map((entry) => this.#index.write(entry));
    if (dead.length > 0) {
      void Promise.all(deadWrites).then(
        () => this.#reclaim(),
        () => undefined,
      );
    }
    const [payloads] = await Promise.all([
      Promise.all(taken.map(({ message }) => this.#readPayload(message))),
      ...taken.map(({ entry }) => this.#index.write(entry)),
      ...deadWrites,
    ]);
    return taken.map(({ message }, i) => ({
      seq: message.seq,
      payload: payloads[i]!,
      attempt: message.attempts,
    }));
  }

  /**
   * Acknowledges a leased message: it is done. Resolves once that is durable in the index.
   * Rejects with `InvalidArgument` when `messageSeq` is not a whole number from 1, and with
   * `NotLeased` when it is one but that message is not leased now.
   *
   * @example
   * await spool.ack(lease.seq);
   */
  async ack(messageSeq: number): Promise<void> {
    const entry = this.#queue.ack(checkSeq(messageSeq), this.#clock());
    if (typeof entry === "string") throw new NotLeased({ seq: messageSeq, reason: entry });
    await this.#index.write(entry);
    this.#reclaim();
  }

  /**
   * The disk budget's check for one more record: the data segments the tail will need, counting
   * records accepted and not durable yet, against `diskBudgetBytes`.
   */
  #reserve(payloadByteSize: number): SpoolFull | undefined {
    const budget = this.config.diskBudgetBytes;
    if (budget === null) return undefined;
    const { segmentByteSize } = this.config;
    const size = recordByteSize(payloadByteSize);
    const oldest = this.#segmentFirstSeq.keys().next().value ?? this.#tail.segment;
    const end = this.#tail.offset + this.#pendingBytes + size;
    const beyond = Math.ceil(Math.max(0, end - segmentByteSize) / segmentByteSize);
    const neededBytes = (this.#tail.segment - oldest + 1 + beyond) * segmentByteSize;
    if (neededBytes > budget) {
      return new SpoolFull({ dir: this.dir, budgetBytes: budget, neededBytes });
    }
    this.#pendingBytes += size;
    return undefined;
  }

  /**
   * Deletes data segments whose messages are all done (claims 62-63), oldest first, never the
   * one being appended to; then index segments wholly below the oldest data left. Data goes
   * first: a crash between the two leaves index entries nobody reads, never records without
   * their entries.
   */
  #reclaim(): void {
    // Dead letters do not hold a segment: they move to the dead-letter store first.
    const floor = this.#queue.settledFloor;
    const reclaimable: number[] = [];
    let previous: number | undefined;
    for (const [segment, firstSeq] of this.#segmentFirstSeq) {
      if (previous !== undefined && firstSeq <= floor) reclaimable.push(previous);
      if (firstSeq > floor) break;
      previous = segment;
    }
    if (reclaimable.length === 0) return;
    for (const segment of reclaimable) this.#segmentFirstSeq.delete(segment);
    const oldestLeft = this.#segmentFirstSeq.values().next().value ?? floor;
    this.#reclaiming = this.#reclaiming.then(async () => {
      try {
        for (const segment of reclaimable) {
          await this.#keepDeadLetters(segment);
          await this.#adapter.removeSegment(segmentNumber(segment));
          this.#segmentsReclaimed += 1;
        }
        await this.#index.removeSegmentsBelow(oldestLeft);
      } catch (error) {
        this.#reclaimFailure ??= error;
      }
    });
  }

  /** Copies a segment's dead letters to the store (durably) before the segment goes. */
  async #keepDeadLetters(segment: number): Promise<void> {
    const letters = this.#queue.deadLetters().filter((letter) => letter.segment === segment);
    if (letters.length === 0) return;
    const kept = await Promise.all(
      letters.map(async (letter) => ({
        seq: letter.seq,
        attempts: letter.attempts,
        payload: (await this.#readPayload(letter)).slice(),
      })),
    );
    await this.#deadLetterStore.add(kept);
    for (const letter of letters) this.#queue.moveDeadLetter(letter.seq);
  }

  /**
   * Gives a leased message back: it is delivered again after `retryAfterMs` (0 by default), or
   * becomes a dead letter when its attempts are used up. Resolves once durable in the index.
   * Rejects with `InvalidArgument` when `messageSeq` is not a whole number from 1 or
   * `retryAfterMs` not a number of milliseconds from 0 to `DURATION_MS_MAX`, and with
   * `NotLeased` when the message is not leased now.
   *
   * @example
   * await spool.nack(lease.seq, { retryAfterMs: 5_000 });
   */
  async nack(messageSeq: number, options: { readonly retryAfterMs?: number } = {}): Promise<void> {
    const checkedSeq = checkSeq(messageSeq);
    const given = checkOptions(options, ["retryAfterMs"]);
    const retryAfterMs =
      given.retryAfterMs === undefined ? 0 : checkDurationMs(given.retryAfterMs, "retryAfterMs", 0);
    const entry = this.#queue.nack(checkedSeq, this.#clock(), retryAfterMs);
    if (typeof entry === "string") throw new NotLeased({ seq: messageSeq, reason: entry });
    await this.#index.write(entry);
    if (entry.info.state === "dead") this.#reclaim();
    // A retry due at once is ready for a waiting consumer now.
    if (retryAfterMs === 0) this.#enqueue([]);
  }

  /**
   * The dead letters (messages whose attempts ran out), in seq order.
   *
   * @example
   * for (const letter of await spool.deadLetters()) console.log(letter.seq, letter.attempts);
   */
  async deadLetters(): Promise<DeadLetter[]> {
    const letters = this.#queue.deadLetters();
    // A letter's segment may be reclaimed while this reads: its copy is in the store by then.
    const payloads = await Promise.all(
      letters.map((letter) =>
        this.#readPayload(letter).catch((error: unknown) => {
          const kept = this.#deadLetterStore.get(letter.seq);
          if (kept === undefined) throw error;
          return kept.payload;
        }),
      ),
    );
    const inSegments = letters.map((letter, i) => ({
      seq: letter.seq,
      payload: payloads[i]!,
      attempts: letter.attempts,
    }));
    // A letter in both (a crash between keeping it and deleting its segment) is listed once.
    const here = new Set<number>(inSegments.map((letter) => letter.seq));
    const stored = this.#deadLetterStore.list().filter((letter) => !here.has(letter.seq));
    return [...inSegments, ...stored].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Marks a dead letter done (after it was inspected or kept elsewhere), so its segment, and
   * those after it, can be reclaimed. Resolves once durable. Rejects with `InvalidArgument`
   * when `messageSeq` is not a whole number from 1, and with `NotLeased` when no dead letter
   * has it.
   *
   * @example
   * for (const letter of await spool.deadLetters()) await spool.purgeDeadLetter(letter.seq);
   */
  async purgeDeadLetter(messageSeq: number): Promise<void> {
    const entry = this.#queue.purge(checkSeq(messageSeq), this.#clock());
    if (typeof entry !== "string") {
      await this.#index.write(entry);
      await this.#deadLetterStore.remove(messageSeq);
      this.#reclaim();
      return;
    }
    if (!(await this.#deadLetterStore.remove(messageSeq))) {
      throw new NotLeased({ seq: messageSeq, reason: entry });
    }
  }

  /**
   * What became of the message with this seq: `queued` (waiting for a consumer), `leased` (a
   * consumer has it), `retryWait` (nacked, waiting to be retried), `dead` (attempts used up),
   * `done` (acknowledged or purged), or `unknown` (no flushed message has this seq yet; an
   * async append counts once its asynchronous flush completed). Throws `InvalidArgument`
   * (synchronously) when `messageSeq` is not a whole number from 1.
   *
   * @example
   * if (spool.messageState(seq) === "done") console.log("delivered");
   */
  messageState(messageSeq: number): MessageState {
    if (checkSeq(messageSeq) > this.#lastDurableSeq) return "unknown";
    // A dead letter moved out of a reclaimed segment counts as done in the queue: ask first.
    if (this.#deadLetterStore.get(messageSeq) !== undefined) return "dead";
    const state = this.#queue.stateOf(messageSeq);
    if (state !== undefined) return state;
    // Durable, below everything the queue was built with: done before this open, and reclaimed.
    return "done";
  }

  /** Messages not yet done, dead letters excluded: the queue depth. */
  depth(): number {
    return this.#queue.depth;
  }

  /**
   * Runs `handler` on messages as they become ready, `concurrency` at a time: a handler that
   * resolves acks its message, one that throws nacks it (retried after `retryAfterMs`). Throws
   * `InvalidArgument` (synchronously) when `handler` is not a function, `options` not an
   * object, `concurrency` not a whole number from 1, `leaseMs` or `pollMs` not a number of
   * milliseconds from 1 to `DURATION_MS_MAX`, or a numeric `retryAfterMs` not one from 0. A
   * `retryAfterMs` function that returns no such number stops the consumer: `stop()` rejects
   * with that `InvalidArgument`.
   *
   * @example
   * const consumer = spool.consume(async ({ payload }) => deliver(payload), { concurrency: 8 });
   * await consumer.stop();
   */
  consume(
    handler: (lease: Lease) => Promise<void> | void,
    options: {
      readonly concurrency?: number;
      readonly leaseMs?: number;
      /**
       * How long a message whose handler threw waits before it is retried: a number, or a
       * function of the lease (its `attempt`) and the error, for backoff; 0 by default.
       */
      readonly retryAfterMs?: number | ((lease: Lease, error: unknown) => number);
      /** How often an idle consumer looks for retries that came due; 50 ms by default. */
      readonly pollMs?: number;
    } = {},
  ): Consumer {
    const settings = checkConsumeArguments<Lease>(handler, options);
    const concurrency = settings.concurrency ?? 1;
    const pollMs = settings.pollMs ?? 50;
    const takeOptions = settings.leaseMs === undefined ? {} : { leaseMs: settings.leaseMs };
    let stopped = false;
    let wakeUp: (() => void) | undefined;
    const failures: unknown[] = [];
    const running = new Set<Promise<void>>();
    // Waits for a message to become ready, a handler to finish, the poll, or stop.
    const pause = () =>
      new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          wakeUp = undefined;
          const at = this.#readyWaiters.indexOf(wake);
          if (at >= 0) this.#readyWaiters.splice(at, 1);
          resolve();
        };
        const timer = setTimeout(wake, pollMs);
        wakeUp = wake;
        this.#readyWaiters.push(wake);
      });
    const answer = async (lease: Lease): Promise<void> => {
      let failure: { error: unknown } | undefined;
      try {
        await handler(lease);
      } catch (error) {
        failure = { error };
      }
      try {
        if (failure === undefined) {
          await this.ack(lease.seq);
          return;
        }
        const { retryAfterMs = 0 } = settings;
        const delayMs =
          typeof retryAfterMs === "number" ? retryAfterMs : retryAfterMs(lease, failure.error);
        // A function's result is checked by nack: a bad one stops the loop with InvalidArgument.
        await this.nack(lease.seq, { retryAfterMs: delayMs });
      } catch (error) {
        // The handler outlived its lease and another took the message (at-least-once): this
        // answer no longer counts, and the loop goes on.
        if (!(error instanceof NotLeased)) throw error;
        this.#leasesLost += 1;
      }
    };
    const fail = (error: unknown): void => {
      // Closing the spool ends the loop; any other failure stops it and is reported.
      if (this.#closing === undefined) failures.push(error);
      stopped = true;
      wakeUp?.();
    };
    const pump = async (): Promise<void> => {
      while (!stopped && this.#closing === undefined) {
        const free = concurrency - running.size;
        // One take for every free handler: their leases share one index flush.
        const leases = free > 0 ? await this.takeMany(free, takeOptions) : [];
        if (leases.length === 0) {
          await pause();
          continue;
        }
        for (const lease of leases) {
          const run: Promise<void> = answer(lease)
            .catch(fail)
            .finally(() => {
              running.delete(run);
              wakeUp?.();
            });
          running.add(run);
        }
      }
    };
    const loop = pump().catch(fail);
    return {
      stop: async () => {
        stopped = true;
        wakeUp?.();
        await loop;
        await Promise.all(running);
        if (failures.length > 0) throw failures[0];
      },
    };
  }

  /** Decodes the record at `location` from a window, or undefined when it lies outside. */
  async #readFrom(
    window: ReadWindow,
    location: MessageLocation,
  ): Promise<ReturnType<typeof decodeRecord> | undefined> {
    const end = location.offset + recordByteSize(location.payloadByteSize);
    if (window.segment !== location.segment) return undefined;
    if (location.offset < window.offset || end > window.offset + window.byteSize) return undefined;
    const bytes = await window.bytes;
    return decodeRecord(bytes.subarray(location.offset - window.offset), 0);
  }

  /**
   * Reads a message's record through a read-ahead window: consumers take in seq order, so one
   * read of 256 KiB serves the next few hundred takes of 1 KiB messages.
   */
  async #readPayload(location: MessageLocation): Promise<Uint8Array> {
    const cached = this.#readWindow;
    if (cached !== undefined) {
      // A window read before this record was written holds zeros where it now lies: on a miss
      // the record is read afresh below.
      const record = await this.#readFrom(cached, location).catch(() => undefined);
      if (record?.ok && record.header.seq === location.seq) return record.payload;
    }
    const size = recordByteSize(location.payloadByteSize);
    const byteSizeToRead = Math.min(
      Math.max(READ_AHEAD_BYTE_SIZE, size),
      this.config.segmentByteSize - location.offset,
    );
    const window = {
      segment: location.segment,
      offset: location.offset,
      byteSize: byteSizeToRead,
      bytes: this.#adapter.read(location.segment, location.offset, byteSize(byteSizeToRead)),
    };
    this.#readWindow = window;
    const record = await this.#readFrom(window, location).catch((error: unknown) => {
      if (this.#readWindow === window) this.#readWindow = undefined;
      throw error;
    });
    if (record === undefined || !record.ok || record.header.seq !== location.seq) {
      const why = record === undefined ? "short read" : record.ok ? "wrong seq" : record.defect;
      throw new SpoolCorrupt({
        file: `segment ${location.segment}`,
        offset: location.offset,
        reason: `record ${location.seq} no longer reads back (${why})`,
      });
    }
    return record.payload;
  }

  /** This thread's claim-34 writer, for observation (its actor) and tests. */
  get sender(): SenderRuntime {
    return this.#sender;
  }

  /** The synchronizer, for observation (its actor) and tests. */
  get synchronizer(): Synchronizer {
    return this.#synchronizer;
  }

  /**
   * Drains, flushes and confirms every append already made, then closes the files. Idempotent.
   *
   * @example
   * await spool.close();
   */
  /**
   * A port for a writer in a worker thread (claim 34 across threads): transfer it to the
   * worker and call `connectWriter(port)` there. The writer shares this spool's lock and
   * synchronizer; when its thread exits, its port closes and the spool forgets it.
   *
   * @example
   * const port = spool.port();
   * new Worker(file, { workerData: { port }, transferList: [port] });
   */
  port(): MessagePort {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    const { port1, port2 } = new MessageChannel();
    this.remoteWriter(portLink(port1));
    return port2;
  }

  /**
   * @internal The spool's end of a remote writer's link (a thread's port, a process's socket):
   * registered with the synchronizer until the link closes or the spool does.
   */
  remoteWriter(link: Link<ToSpool, ToWriter>): RemoteEndpoint {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    const host: PortHost = {
      dir: this.dir,
      config: this.config,
      synchronizer: this.#synchronizer,
      lock: this.#lock,
      nextWriterId: () => writerId(this.#nextWriterId++),
      nextRequestId: () => this.#nextRemoteRequestId++,
    };
    const endpoint: RemoteEndpoint = new RemoteEndpoint(host, link, () =>
      this.#remotes.delete(endpoint),
    );
    this.#remotes.add(endpoint);
    return endpoint;
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        for (const writer of this.#writers) writer.close();
        // Appends made before close() are drained, not refused.
        this.#sender.flushOutbox();
        await this.#synchronizer.close();
        for (const endpoint of [...this.#remotes]) endpoint.close();
        await this.#reclaiming;
        await this.#index.close();
        await this.#adapter.close();
        for (const wake of this.#readyWaiters) wake();
        this.#readyWaiters = [];
      })();
    }
    return this.#closing;
  }
}

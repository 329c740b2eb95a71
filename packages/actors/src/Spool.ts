/**
 * `openSpool`: composes the adapter, the synchronizer, the shared lock and the writers over one
 * spool directory, and restores the append position from the data segments on open.
 */
import { fileAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  type AppendCursor,
  byteOffset,
  byteSize,
  ConfigInvalid,
  type FlushAdapter,
  type FlushReason,
  MANIFEST_FILE_NAME,
  resolveConfig,
  type SegmentNumber,
  type Seq,
  SpoolClosed,
  type SpoolConfig,
  SpoolCorrupt,
  type SpoolOptions,
  segmentNumber,
  seq,
  writerId,
} from "@spool/core";
import { scanRecords } from "./internal/RecordScanner.js";
import { inProcessLock, type SharedLock } from "./SharedLock.js";
import { Synchronizer } from "./Synchronizer.js";
import { SenderRuntime, Writer } from "./Writer.js";

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
}

/** What opening found on disk. @example spool.recovery.recordsScanned */
export interface OpenReport {
  readonly recordsScanned: number;
  readonly tornTailTruncated: boolean;
  readonly durationMs: number;
}

const MANIFEST_FORMAT = "spool";
const MANIFEST_VERSION = 1;

interface Manifest {
  readonly format: string;
  readonly version: number;
  readonly segmentByteSize: number;
  readonly pageByteSize: number;
}

/**
 * Opens (or creates) a spool.
 *
 * @example
 * const spool = await openSpool({ dir: "./spool-data" });
 * const { seq } = await spool.writer().append("hello");
 * await spool.close();
 */
export async function openSpool(options: OpenSpoolOptions): Promise<Spool> {
  const { dir, adapter: factory, clock, ...tunables } = options;
  if (typeof dir !== "string" || dir.length === 0) {
    throw new ConfigInvalid({ field: "dir", message: "dir: must be a non-empty path" });
  }
  const requested = resolveConfig(tunables);
  const startedAtMs = performance.now();
  const openAdapter = (config: SpoolConfig) =>
    (factory ?? fileAdapter())({
      dir,
      segmentByteSize: config.segmentByteSize,
      pageByteSize: config.pageByteSize,
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
    const { cursor, recordsScanned, torn } = await restoreCursor(adapter, config);
    const report = {
      recordsScanned,
      tornTailTruncated: torn,
      durationMs: performance.now() - startedAtMs,
    };
    return new Spool(dir, config, adapter, cursor, clock ?? Date.now, report);
  } catch (error) {
    await adapter.close();
    throw error;
  }
}

async function reconcileManifest(
  adapter: FlushAdapter,
  requested: SpoolConfig,
  given: SpoolOptions,
  dir: string,
): Promise<SpoolConfig> {
  const text = await adapter.readManifest();
  if (text === null) {
    if ((await adapter.listSegments()).length > 0) {
      throw new SpoolCorrupt({
        file: MANIFEST_FILE_NAME,
        offset: 0,
        reason: `missing in ${dir}, which holds segments`,
      });
    }
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      segmentByteSize: requested.segmentByteSize,
      pageByteSize: requested.pageByteSize,
    };
    await adapter.writeManifest(`${JSON.stringify(manifest, null, 2)}\n`);
    return requested;
  }
  const manifest = parseManifest(text);
  for (const field of ["segmentByteSize", "pageByteSize"] as const) {
    if (given[field] !== undefined && given[field] !== manifest[field]) {
      throw new ConfigInvalid({
        field,
        message: `${field}: the spool in ${dir} was created with ${manifest[field]}, not ${given[field]}`,
      });
    }
  }
  return resolveConfig({
    ...given,
    segmentByteSize: manifest.segmentByteSize,
    pageByteSize: manifest.pageByteSize,
  });
}

function parseManifest(text: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SpoolCorrupt({ file: MANIFEST_FILE_NAME, offset: 0, reason: "not JSON" });
  }
  const manifest = parsed as Partial<Manifest> | null;
  if (manifest?.format !== MANIFEST_FORMAT) {
    throw new SpoolCorrupt({ file: MANIFEST_FILE_NAME, offset: 0, reason: "not a spool manifest" });
  }
  if (manifest.version !== MANIFEST_VERSION) {
    throw new SpoolCorrupt({
      file: MANIFEST_FILE_NAME,
      offset: 0,
      reason: `format version ${manifest.version} is not ${MANIFEST_VERSION}`,
    });
  }
  if (
    !Number.isSafeInteger(manifest.segmentByteSize) ||
    !Number.isSafeInteger(manifest.pageByteSize)
  ) {
    throw new SpoolCorrupt({
      file: MANIFEST_FILE_NAME,
      offset: 0,
      reason: "segment or page size missing",
    });
  }
  return manifest as Manifest;
}

async function restoreCursor(
  adapter: FlushAdapter,
  config: SpoolConfig,
): Promise<{ cursor: AppendCursor; recordsScanned: number; torn: boolean }> {
  const segments = await adapter.listSegments();
  const first = segments[0] ?? segmentNumber(1);
  if (segments.length === 0) await adapter.prepareSegment(first);
  const scan = scanRecords(adapter, {
    firstSegment: first,
    segments,
    segmentByteSize: config.segmentByteSize,
  });
  let recordsScanned = 0;
  let step = await scan.next();
  while (!step.done) {
    recordsScanned += 1;
    step = await scan.next();
  }
  const end = step.value;
  // The log may end on a segment that does not exist yet (the last one was full): the cursor
  // starts that segment, which the first batch prepares and maps.
  const torn = await cutTail(adapter, config, segments, {
    segment: end.segment,
    offset: end.offset,
  });
  return {
    cursor: { segment: end.segment, offset: byteOffset(end.offset), nextSeq: seq(end.lastSeq + 1) },
    recordsScanned,
    torn,
  };
}

// 1 MiB: the unit of reading and zeroing the tail, so no buffer grows to a segment's size.
const TAIL_CHUNK_BYTE_SIZE = 1024 * 1024;
const ZERO_CHUNK = Buffer.alloc(TAIL_CHUNK_BYTE_SIZE);

/**
 * Zeroes every non-zero byte after the last intact record, in its segment and any later one,
 * and flushes before anything is appended. A torn batch can leave a zero header followed by
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
    if (!(await hasNonZeroBytes(adapter, segment, from, config.segmentByteSize))) continue;
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

async function hasNonZeroBytes(
  adapter: FlushAdapter,
  segment: SegmentNumber,
  from: number,
  to: number,
): Promise<boolean> {
  for (let at = from; at < to; at += TAIL_CHUNK_BYTE_SIZE) {
    const length = Math.min(TAIL_CHUNK_BYTE_SIZE, to - at);
    const bytes = await adapter.read(segment, byteOffset(at), byteSize(length));
    // A native memcmp against zeros: a segment's tail is checked in milliseconds.
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (!view.equals(ZERO_CHUNK.subarray(0, length))) return true;
  }
  return false;
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
  readonly #synchronizer: Synchronizer;
  readonly #lock: SharedLock = inProcessLock();
  readonly #writers = new Set<Writer>();
  readonly #sender: SenderRuntime;
  readonly #firstSegment: Promise<number>;
  // Writer id 0 is this thread's sender; handles count up from 1.
  #nextWriterId = 1;
  #closing: Promise<void> | undefined;

  /** @internal Use {@link openSpool}. */
  constructor(
    dir: string,
    config: SpoolConfig,
    adapter: FlushAdapter,
    cursor: AppendCursor,
    clock: () => number,
    recovery: OpenReport,
  ) {
    this.dir = dir;
    this.config = config;
    this.recovery = recovery;
    this.#adapter = adapter;
    this.#synchronizer = new Synchronizer({ dir, config, adapter, cursor, clock });
    this.#sender = new SenderRuntime({
      id: writerId(0),
      dir,
      config,
      lock: this.#lock,
      synchronizer: this.#synchronizer,
    });
    this.#firstSegment = adapter.listSegments().then((segments) => segments[0] ?? 1);
  }

  /**
   * A new writer (claim 34's thread or process), named for stats and logs.
   *
   * @example
   * const writer = spool.writer("smsc-1");
   */
  writer(name?: string): Writer {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    const id = writerId(this.#nextWriterId++);
    const writer = new Writer(id, name ?? `writer-${id}`, this.#sender, this.dir, this.config);
    this.#writers.add(writer);
    return writer;
  }

  /**
   * The durable records in sequence order, from `from` (a seq) on, up to what is durable when
   * each segment is reached.
   *
   * @example
   * for await (const record of spool.records({ from: 1 })) console.log(record.seq);
   */
  async *records(
    options: { readonly from?: number } = {},
  ): AsyncGenerator<DurableRecord, void, undefined> {
    const segments = await this.#adapter.listSegments();
    const stopAt = this.#synchronizer.durableThrough();
    const scan = scanRecords(this.#adapter, {
      firstSegment: segmentNumber(await this.#firstSegment),
      segments,
      segmentByteSize: this.config.segmentByteSize,
      stopAt,
      ...(options.from === undefined ? {} : { fromSeq: options.from }),
    });
    for await (const record of scan) {
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
    };
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
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        for (const writer of this.#writers) writer.close();
        // Appends made before close() are drained, not refused.
        this.#sender.flushOutbox();
        await this.#synchronizer.close();
        await this.#adapter.close();
      })();
    }
    return this.#closing;
  }
}

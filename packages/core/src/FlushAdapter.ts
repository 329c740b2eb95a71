/**
 * The port between the synchronizer and the disk (claims 14, 15, 45, 62-63, 68). Core declares
 * it; `@spool/adapters` implements it (mmap, file, memory); users may plug in their own.
 *
 * The synchronizer drives one batch through it in the claim-64 order:
 * `isMapped` → `map` if not → `stage` (encode the batch into the batch file) → `write` →
 * `flush`. An adapter never reorders or merges those steps.
 *
 * With pipelining (`pipelineSplitByteSize`), a second batch's `stage` → `write` → `flush` may
 * start once the first batch's `write` resolved, while the first's `flush` is still running:
 * `stage` must not hand out memory a pending write still reads, and two flushes of one segment
 * may run at once (each returns once its own region is on stable storage).
 */
import type { ByteOffset, ByteSize, SegmentNumber } from "./Units.js";

/**
 * `sync`: return once the bytes are on stable storage. `async`: start the flush and return
 * (claim 14).
 *
 * @example
 * await adapter.flush(region, "sync");
 */
export type FlushMode = "sync" | "async";

/** A byte range of one segment. @example { segment: segmentNumber(1), offset: byteOffset(0), byteSize: byteSize(4096) } */
export interface Region {
  readonly segment: SegmentNumber;
  readonly offset: ByteOffset;
  readonly byteSize: ByteSize;
}

/**
 * A storage back end for one spool directory. Methods reject with `StorageFailed` (opening,
 * creating, mapping, reading) or `FlushFailed` (writing, flushing).
 *
 * @example
 * const adapter = await memoryAdapter()({ dir: "/spool", segmentByteSize: 1 << 20 });
 */
export interface FlushAdapter {
  /** A short name for stats and logs ("mmap", "file", "memory"). */
  readonly name: string;
  /**
   * `false`: a second batch must not be written while one flushes; the synchronizer then keeps
   * one batch on the disk whatever `pipelineSplitByteSize` says. Omitted: pipelining is fine.
   */
  readonly pipelining?: boolean;
  /**
   * `true`: two flushes may run at once, each reporting a failed writeback of its own region
   * (the file adapter flushes a second batch through a second open file: Linux reports a
   * failed writeback once per open file). Omitted: the synchronizer runs one flush at a time,
   * and a second batch's write still overlaps the first batch's flush.
   */
  readonly concurrentFlushes?: boolean;
  /**
   * One of the spool's small documents (`spool.json`, the manifest, by default; also
   * `dead-letters.json`), or null when it does not exist.
   */
  readManifest(name?: string): Promise<string | null>;
  /** Replaces a small document (the manifest by default) atomically and durably. */
  writeManifest(text: string, name?: string): Promise<void>;
  /** Segment numbers that exist, ascending. */
  listSegments(): Promise<readonly SegmentNumber[]>;
  /**
   * Makes sure the segment exists at full size with its blocks written (claims 62-63: writing
   * into already-written blocks spares fdatasync any size or extent change): a recycled segment
   * (see `recycleSegment`) renamed to it, or else a new one, pre-zeroed and flushed. Idempotent;
   * the synchronizer calls it ahead of need for the next segment. The directory adapters create
   * a segment that `map` needs before its zero fill is done sparse instead (it reads as zeros).
   * Durable once it resolves (the directory is flushed after the rename).
   */
  prepareSegment(segment: SegmentNumber): Promise<void>;
  /** Whether the segment is mapped (claim 15's "determining whether ... memory mapped"). */
  isMapped(segment: SegmentNumber): boolean;
  /** Maps the segment if it is not mapped yet (claims 15, 68); prepares it first if needed. */
  map(segment: SegmentNumber): Promise<void>;
  /**
   * A writable view of the region: the batch file of claims 45-46 into which the batch's
   * records are encoded. For the mmap adapter it is the mapped window itself.
   */
  stage(region: Region): Uint8Array;
  /** Moves the staged region to the file (nothing to do when staging wrote through a map). */
  write(region: Region): Promise<void>;
  /** Flushes the region to stable storage, synchronously or asynchronously (claim 14). */
  flush(region: Region, mode: FlushMode): Promise<void>;
  /**
   * Optional: a promise that settles once every flush this adapter has started completed (it
   * rejects when one failed), or `null` when the adapter cannot tell (an asynchronous msync).
   * The synchronizer shows an `async` batch's records to consumers once it resolves; without it
   * they wait for the next synchronous flush, since an index entry may only ever name a durable
   * record.
   */
  whenFlushed?(): Promise<void> | null;
  /** Reads bytes that were written (a copy, safe to keep). */
  read(segment: SegmentNumber, offset: ByteOffset, byteSize: ByteSize): Promise<Uint8Array>;
  /**
   * Deletes a segment whose messages are all done (claims 62-63: its blocks go back to the
   * partition); unmaps and closes it first. Durable once it resolves.
   */
  removeSegment(segment: SegmentNumber): Promise<void>;
  /**
   * Optional: like `removeSegment`, but the file may be kept to become a later segment, renamed
   * (`recycled-NNNNNNNNNN.seg`, at most {@link RECYCLED_SEGMENTS_MAX} kept, the others deleted)
   * instead of zero-filling a new one; its records stay, stale by their stamp. Durable once it
   * resolves. Only for a segment whose records are all stamped (format 2).
   */
  recycleSegment?(segment: SegmentNumber): Promise<void>;
  /** Optional: how the segments this adapter made were prepared, for `stats()`. */
  segmentsPrepared?(): SegmentsPrepared;
  /** Unmaps and closes everything; idempotent. */
  close(): Promise<void>;
}

/**
 * How many segments an adapter made by zero-filling new files (or sparse ones, when appends
 * outran the zero fill) and how many by renaming a recycled one.
 *
 * @example
 * const { zeroFilled, recycled } = adapter.segmentsPrepared?.() ?? { zeroFilled: 0, recycled: 0 };
 */
export interface SegmentsPrepared {
  readonly zeroFilled: number;
  readonly recycled: number;
}

/**
 * Reclaimed data segments kept for reuse: two, so that the segment prepared ahead and the one
 * after it both find one when consumers keep up (at most 2 × `segmentByteSize` of disk held
 * beyond the live segments, within a spool's `diskBudgetBytes` only while in use).
 *
 * @example
 * RECYCLED_SEGMENTS_MAX === 2
 */
export const RECYCLED_SEGMENTS_MAX = 2;

/**
 * The file name a recycled data segment waits under until it becomes a later segment.
 *
 * @example
 * recycledFileName(segmentNumber(3)) // "recycled-0000000003.seg"
 */
export function recycledFileName(segment: SegmentNumber): string {
  return `recycled-${String(segment).padStart(10, "0")}.seg`;
}

/**
 * The segment number in a recycled segment's file name, or undefined for any other name.
 *
 * @example
 * parseRecycledFileName("recycled-0000000003.seg") // 3
 */
export function parseRecycledFileName(name: string): SegmentNumber | undefined {
  const found = /^recycled-(\d{10})\.seg$/.exec(name);
  return found ? (Number(found[1]) as SegmentNumber) : undefined;
}

/** Which file a spool's segments make up: the queue data file or its index file. @example "index" */
export type SegmentFileKind = "data" | "index";

/** What an adapter is opened with. @example { dir: "./spool-data", segmentByteSize: 64 << 20, pageByteSize: 4096 } */
export interface AdapterOptions {
  readonly dir: string;
  readonly segmentByteSize: number;
  readonly pageByteSize: number;
  /** The segments' file; `data` when omitted. Only the data adapter keeps the manifest. */
  readonly fileKind?: SegmentFileKind;
  /**
   * False to open without taking the directory's lock, for tools that only read (`spool
   * inspect`, `spool verify`); true by default for the data file.
   */
  readonly lock?: boolean;
  /**
   * The permission bits of every file the adapter creates (segments, manifest, documents,
   * lock): 0o600 when omitted, so only the spool's user reads its messages. Set exactly,
   * whatever the process's umask.
   */
  readonly fileMode?: number;
  /** The permission bits of a directory the adapter creates: 0o700 when omitted. */
  readonly directoryMode?: number;
}

/** Files a spool creates are its user's alone unless widened (`fileMode`). @example DEFAULT_FILE_MODE === 0o600 */
export const DEFAULT_FILE_MODE = 0o600;
/** Directories a spool creates are its user's alone unless widened. @example DEFAULT_DIRECTORY_MODE === 0o700 */
export const DEFAULT_DIRECTORY_MODE = 0o700;

/**
 * Opens an adapter on a directory.
 *
 * @example
 * const factory: AdapterFactory = fileAdapter();
 */
export type AdapterFactory = (options: AdapterOptions) => Promise<FlushAdapter>;

const EXTENSIONS: Readonly<Record<SegmentFileKind, string>> = { data: "seg", index: "idx" };

/**
 * The file name of a segment: the kind, a dash and ten digits, so names sort in segment order.
 *
 * @example
 * segmentFileName(segmentNumber(1)) // "data-0000000001.seg"
 * segmentFileName(segmentNumber(1), "index") // "index-0000000001.idx"
 */
export function segmentFileName(segment: SegmentNumber, kind: SegmentFileKind = "data"): string {
  return `${kind}-${String(segment).padStart(10, "0")}.${EXTENSIONS[kind]}`;
}

/**
 * The segment number in a segment file name of that kind, or undefined for any other name.
 *
 * @example
 * parseSegmentFileName("data-0000000002.seg") // 2
 */
export function parseSegmentFileName(
  name: string,
  kind: SegmentFileKind = "data",
): SegmentNumber | undefined {
  const found = new RegExp(`^${kind}-(\\d{10})\\.${EXTENSIONS[kind]}$`).exec(name);
  return found ? (Number(found[1]) as SegmentNumber) : undefined;
}

/** The manifest's file name. @example MANIFEST_FILE_NAME === "spool.json" */
export const MANIFEST_FILE_NAME = "spool.json";

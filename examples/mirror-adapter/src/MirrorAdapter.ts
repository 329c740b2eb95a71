/**
 * A user-written flush adapter: every batch goes to two directories (two disks in production),
 * and a flush completes only once both copies are flushed. It is built from two ordinary
 * adapters (`fileAdapter()` by default) and adds no I/O of its own.
 *
 * The primary (the spool's `dir`) is authoritative: every read, the manifest and the segment
 * list come from it, so opening and recovery behave exactly as they would without the mirror.
 * The mirror (`mirrorDir`) receives every write, flush, manifest and removal, so that it alone
 * is a complete spool holding every acknowledged append; it is read only by `verifyMirror` and
 * by an operator rebuilding a lost primary from it (see the README).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  type AdapterOptions,
  type ByteOffset,
  type ByteSize,
  ConfigInvalid,
  errorCode,
  type FlushAdapter,
  FlushFailed,
  type FlushMode,
  MANIFEST_FILE_NAME,
  type Region,
  type SegmentFileKind,
  type SegmentNumber,
  SpoolCorrupt,
  segmentFileName,
} from "@spool/core";

/**
 * Where the second copy goes, and which adapters write each copy.
 *
 * @example
 * const options: MirrorAdapterOptions = { mirrorDir: "/mnt/disk2/spool-mirror" };
 */
export interface MirrorAdapterOptions {
  /** The mirror's directory: on another disk than the spool's `dir`, or it guards nothing. */
  readonly mirrorDir: string;
  /** Opens the primary copy, in the spool's `dir`; `fileAdapter()` when omitted. */
  readonly primary?: AdapterFactory;
  /** Opens the mirror copy, in `mirrorDir`; `fileAdapter()` when omitted. */
  readonly mirror?: AdapterFactory;
}

/** The directories and file kind one mirrored adapter serves, for naming files in errors. */
interface MirrorPlace {
  readonly primaryDir: string;
  readonly mirrorDir: string;
  readonly fileKind: SegmentFileKind;
}

/**
 * A factory for an adapter that writes every batch to the spool's directory and to
 * `mirrorDir`, and confirms a flush only once both copies are flushed. The mirror directory is
 * locked together with the spool's (`AdapterOptions.lock` applies to both).
 *
 * @example
 * const spool = await openSpool({
 *   dir: "/mnt/disk1/spool",
 *   adapter: mirrorAdapter({ mirrorDir: "/mnt/disk2/spool-mirror" }),
 * });
 */
export function mirrorAdapter(options: MirrorAdapterOptions): AdapterFactory {
  const { mirrorDir } = options;
  if (typeof mirrorDir !== "string" || mirrorDir.length === 0) {
    throw new ConfigInvalid({ field: "mirrorDir", message: "mirrorDir: must be a non-empty path" });
  }
  const openPrimary = options.primary ?? fileAdapter();
  const openMirror = options.mirror ?? fileAdapter();
  return async (adapterOptions) => {
    const place = placeOf(adapterOptions, mirrorDir);
    const primary = await openPrimary(adapterOptions);
    // The same options but the directory, so the mirror takes its directory's lock exactly when
    // the primary takes the spool's: no other spool can open the mirror while it is mirrored.
    const mirror = await openMirror({ ...adapterOptions, dir: mirrorDir }).catch(
      async (error: unknown) => {
        // The open's failure (a SpoolLocked mirror, say) is the one to report, not the close's.
        await primary.close().catch(() => undefined);
        throw error;
      },
    );
    const adapter = new MirrorAdapter(primary, mirror, place);
    // Only the data file's adapter keeps the manifest (AdapterOptions.fileKind).
    if (place.fileKind === "data") {
      await expectSameSpool(primary, mirror, place).catch(async (error: unknown) => {
        await adapter.close().catch(() => undefined);
        throw error;
      });
    }
    return adapter;
  };
}

function placeOf(options: AdapterOptions, mirrorDir: string): MirrorPlace {
  // Two adapters on the same files would each believe it holds the only copy.
  if (path.resolve(options.dir) === path.resolve(mirrorDir)) {
    throw new ConfigInvalid({
      field: "mirrorDir",
      message: `mirrorDir: must differ from the spool's dir (${options.dir})`,
    });
  }
  return { primaryDir: options.dir, mirrorDir, fileKind: options.fileKind ?? "data" };
}

/**
 * Refuses to open a pair that does not hold the same spool. Opening anyway would either start
 * a new spool in the primary and write it over the mirror's records (a lost primary), or leave
 * a mirror that lacks every segment written before it joined (a new, empty mirror): both lose
 * the mirror's one promise. Rebuilding either side is the operator's step (README).
 */
async function expectSameSpool(
  primary: FlushAdapter,
  mirror: FlushAdapter,
  place: MirrorPlace,
): Promise<void> {
  const [primaryText, mirrorText] = await Promise.all([
    primary.readManifest(),
    mirror.readManifest(),
  ]);
  if (primaryText === mirrorText) return;
  // Refused even when the mirror's spool looks empty: a crash while a spool was being created
  // leaves that too, and copying the mirror's files into the primary mends it the same way.
  const reason =
    primaryText === null
      ? `the mirror ${place.mirrorDir} holds a spool and ${place.primaryDir} does not: ` +
        "rebuild the primary from the mirror before opening"
      : mirrorText === null
        ? `the mirror ${place.mirrorDir} holds no spool: copy ${place.primaryDir} into it ` +
          "while the spool is closed before opening"
        : `the mirror's manifest differs from the one in ${place.primaryDir}`;
  throw new SpoolCorrupt({
    file: path.join(place.mirrorDir, MANIFEST_FILE_NAME),
    offset: 0,
    reason,
  });
}

/** What `stage` handed out and must be copied to the mirror before `write`. */
interface Staged {
  readonly region: Region;
  readonly primaryView: Uint8Array;
  readonly mirrorView: Uint8Array;
}

class MirrorAdapter implements FlushAdapter {
  readonly name: string;
  /** Two batches on the disk, and two flushes at once, only when both sides take them. */
  readonly pipelining: boolean;
  readonly concurrentFlushes: boolean;
  readonly #primary: FlushAdapter;
  readonly #mirror: FlushAdapter;
  readonly #place: MirrorPlace;
  #staged: Staged | undefined;

  constructor(primary: FlushAdapter, mirror: FlushAdapter, place: MirrorPlace) {
    this.name = `mirror(${primary.name})`;
    this.pipelining = primary.pipelining !== false && mirror.pipelining !== false;
    this.concurrentFlushes =
      primary.concurrentFlushes === true && mirror.concurrentFlushes === true;
    this.#primary = primary;
    this.#mirror = mirror;
    this.#place = place;
  }

  readManifest(name?: string): Promise<string | null> {
    return this.#primary.readManifest(name);
  }

  async writeManifest(text: string, name?: string): Promise<void> {
    // The mirror first, one after the other, so the copy a rebuild reads from is never the
    // older one: a crash between the two leaves the mirror ahead. Documents are rewritten
    // rarely (creation, dead letters), so the serial wait costs little.
    await this.#mirror.writeManifest(text, name);
    await this.#primary.writeManifest(text, name);
  }

  listSegments(): Promise<readonly SegmentNumber[]> {
    return this.#primary.listSegments();
  }

  prepareSegment(segment: SegmentNumber): Promise<void> {
    return this.#onBoth((adapter) => adapter.prepareSegment(segment));
  }

  isMapped(segment: SegmentNumber): boolean {
    // Mapped only when both are, so that a half-mapped segment is mapped again (map is
    // idempotent) rather than written to a side that has no open file for it.
    return this.#primary.isMapped(segment) && this.#mirror.isMapped(segment);
  }

  map(segment: SegmentNumber): Promise<void> {
    return this.#onBoth((adapter) => adapter.map(segment));
  }

  stage(region: Region): Uint8Array {
    const primaryView = this.#primary.stage(region);
    const mirrorView = this.#mirror.stage(region);
    assert.equal(primaryView.byteLength, region.byteSize, "primary staged a wrong size");
    assert.equal(mirrorView.byteLength, region.byteSize, "mirror staged a wrong size");
    this.#staged = { region, primaryView, mirrorView };
    // The caller encodes the batch into the primary's view only; `write` copies it across.
    return primaryView;
  }

  async write(region: Region): Promise<void> {
    const staged = this.#staged;
    assert.ok(staged !== undefined, "write() must follow stage()");
    assert.equal(staged.region, region, "write() must follow stage() of the same region");
    // Each adapter writes from its own staging (FileAdapter keeps a private buffer; mmap stages
    // in its map), so the mirror's view gets a copy of the bytes the caller encoded: one memcpy
    // per batch, and the two files receive the same bytes.
    staged.mirrorView.set(staged.primaryView);
    await this.#flushingBoth(region, (adapter) => adapter.write(region));
  }

  flush(region: Region, mode: FlushMode): Promise<void> {
    // Both fdatasyncs run at once, so a batch waits for the slower disk, not for the sum. An
    // `async` flush is tracked by each side, and its failure fails that side's next flush.
    return this.#flushingBoth(region, (adapter) => adapter.flush(region, mode));
  }

  read(segment: SegmentNumber, offset: ByteOffset, byteSize: ByteSize): Promise<Uint8Array> {
    return this.#primary.read(segment, offset, byteSize);
  }

  async removeSegment(segment: SegmentNumber): Promise<void> {
    // The mirror first: a crash between the two leaves a segment of done messages in the
    // primary, which reclaims it again, and never a mirror holding a segment the primary let
    // go (stood in for the primary, it would deliver those messages again).
    await this.#mirror.removeSegment(segment);
    await this.#primary.removeSegment(segment);
  }

  close(): Promise<void> {
    return this.#onBoth((adapter) => adapter.close());
  }

  /**
   * Runs a storage step on both sides at once and waits for both, so nothing is left running
   * on either side when a failure is reported; the primary's failure is reported first.
   */
  #onBoth(step: (adapter: FlushAdapter) => Promise<void>): Promise<void> {
    return settleBoth(step(this.#primary), step(this.#mirror), (error) => error);
  }

  /** A write or flush on both sides: as `#onBoth`, with the mirror's failure named for it. */
  #flushingBoth(region: Region, step: (adapter: FlushAdapter) => Promise<void>): Promise<void> {
    return settleBoth(step(this.#primary), step(this.#mirror), (error) =>
      mirrorFlushFailed(this.#place, region, error),
    );
  }
}

/** Waits for both steps; throws the primary's failure, else the mirror's as `nameMirror` has it. */
async function settleBoth(
  primaryStep: Promise<void>,
  mirrorStep: Promise<void>,
  nameMirror: (error: unknown) => unknown,
): Promise<void> {
  const [primary, mirror] = await Promise.allSettled([primaryStep, mirrorStep]);
  if (primary.status === "rejected") throw primary.reason;
  if (mirror.status === "rejected") throw nameMirror(mirror.reason);
}

/**
 * The mirror's FlushFailed names its segment file without a directory, as the primary's does;
 * it is raised again naming the mirror's path, so the operator knows which disk failed. Any
 * other error (a programmer error) passes unchanged, to crash as it would without a mirror.
 */
function mirrorFlushFailed(place: MirrorPlace, region: Region, error: unknown): unknown {
  if (!(error instanceof FlushFailed)) return error;
  return new FlushFailed({
    file: path.join(place.mirrorDir, segmentFileName(region.segment, place.fileKind)),
    offset: region.offset,
    byteSize: region.byteSize,
    code: errorCode(error),
    cause: error,
  });
}

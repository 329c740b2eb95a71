/**
 * The on-disk directory shared by the file and mmap adapters: the manifest, the segment files,
 * pre-zeroing or recycling, and error mapping. Plain `node:fs`; no native code.
 */
import { constants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import {
  type AdapterOptions,
  DEFAULT_DIRECTORY_MODE,
  DEFAULT_FILE_MODE,
  errorCode,
  MANIFEST_FILE_NAME,
  parseRecycledFileName,
  parseSegmentFileName,
  RECYCLED_SEGMENTS_MAX,
  recycledFileName,
  type SegmentNumber,
  SpoolLocked,
  StorageFailed,
  segmentFileName,
} from "@spool/core";
import { createDirectory, storage } from "./Storage.js";
import { zeroFill, zeroFillPages } from "./ZeroFill.js";

/** The lock file of an open spool directory. */
const LOCK_FILE_NAME = "LOCK";
/** Directories this process holds the lock of. */
const LOCKED_HERE = new Set<string>();

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return errorCode(error) === "EPERM";
  }
}

/** How a directory creates its segments. */
export interface SegmentDirectoryOptions {
  /**
   * A segment needed before its zero fill is done is created sparse (the file adapter). Not
   * for a map: a store through it into a block not yet allocated, on a full disk, raises
   * SIGBUS instead of a write error.
   */
  readonly sparseWhenNeeded?: boolean;
  /**
   * The system's page size, to zero-fill with page-sized writes (the mmap adapter) rather than
   * 1 MiB ones, so that the page cache holds the segment in single-page folios. Linux (6.x, ext4 and others with large
   * folios) caches a 1 MiB write in folios of up to 1 MiB, and a store through a shared map
   * dirties the whole folio it faults on (block_page_mkwrite marks every block of it), so each
   * fdatasync then wrote about 1 MiB for a 17 KiB batch (measured: 1,042 KiB per batch against
   * 21 KiB, at a third of the rate). Page-sized writes create page-sized folios.
   */
  readonly zeroFillPageByteSize?: number;
}

/** Segment files of one spool directory, each opened once and kept open. */
export class SegmentDirectory {
  readonly #options: AdapterOptions;
  readonly #handles = new Map<SegmentNumber, fs.FileHandle>();
  /**
   * A second open file of each open segment, for a flush that runs while another flushes:
   * Linux reports a failed writeback once per open file, so two fdatasyncs through one file
   * could leave one of them reporting success for lost pages; through two, each sees it.
   */
  readonly #flushHandles = new Map<SegmentNumber, fs.FileHandle>();
  readonly #preparing = new Map<SegmentNumber, Promise<void>>();
  /**
   * Zero fills in progress, by segment: `cancelled` stops one before its rename (the segment is
   * then created sparse instead); `renaming` says it is past that point.
   */
  readonly #zeroing = new Map<SegmentNumber, { cancelled: boolean; renaming: boolean }>();
  /** Abandoned zero fills still stopping: waited for on close. */
  readonly #abandoned = new Set<Promise<void>>();
  /** Segments created sparse because they were needed before their zero fill was done. */
  sparseSegments = 0;
  /** Segments zero-filled (or created sparse) and segments made from a recycled one. */
  readonly prepared = { zeroFilled: 0, recycled: 0 };
  /**
   * Recycled data segments waiting to become later ones, by the number they had, oldest first;
   * read from the directory on the first use (files renamed there before a crash included).
   */
  #spares: SegmentNumber[] | undefined;

  /** Whether a segment needed before its zero fill is done is created sparse (see handle). */
  readonly #sparseWhenNeeded: boolean;
  /** Segments are zero-filled a page of this size per write, if set (SegmentDirectoryOptions). */
  readonly #zeroFillPageByteSize: number | undefined;

  constructor(options: AdapterOptions, directoryOptions: SegmentDirectoryOptions = {}) {
    this.#options = options;
    this.#sparseWhenNeeded = directoryOptions.sparseWhenNeeded ?? false;
    this.#zeroFillPageByteSize = directoryOptions.zeroFillPageByteSize;
  }

  /** Opens (creating it if need be) and locks a spool directory. */
  static async open(
    options: AdapterOptions,
    directoryOptions: SegmentDirectoryOptions = {},
  ): Promise<SegmentDirectory> {
    await storage("create directory", options.dir, () =>
      createDirectory(options.dir, options.directoryMode ?? DEFAULT_DIRECTORY_MODE),
    );
    const directory = new SegmentDirectory(options, directoryOptions);
    // The data file's adapter holds the directory's lock; the index adapter opens under it.
    if ((options.fileKind ?? "data") === "data" && options.lock !== false) await directory.#lock();
    return directory;
  }

  #locked = false;

  /**
   * Takes the directory's lock file (`LOCK`, holding the owner's pid), or throws SpoolLocked.
   * A lock left by a process that no longer runs is taken over.
   */
  async #lock(): Promise<void> {
    const dir = path.resolve(this.#options.dir);
    const file = this.pathOf(LOCK_FILE_NAME);
    if (LOCKED_HERE.has(dir)) throw new SpoolLocked({ dir: this.#options.dir, pid: process.pid });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        // The pid goes in with the create, as before, so a reader sees an empty lock no longer
        // than it did; the mode is set exactly afterwards.
        const mode = this.#options.fileMode ?? DEFAULT_FILE_MODE;
        await fs.writeFile(file, `${process.pid}\n`, { flag: "wx", mode });
        await fs.chmod(file, mode);
        LOCKED_HERE.add(dir);
        this.#locked = true;
        return;
      } catch (cause) {
        if (errorCode(cause) !== "EEXIST") {
          throw new StorageFailed({ operation: "lock", file, code: errorCode(cause), cause });
        }
      }
      const owner = Number.parseInt(await fs.readFile(file, "utf8").catch(() => ""), 10);
      if (Number.isSafeInteger(owner) && owner !== process.pid && processRuns(owner)) {
        throw new SpoolLocked({ dir: this.#options.dir, pid: owner });
      }
      // Stale: its process is gone (or it was ours, from a spool that was never closed).
      await fs.rm(file, { force: true });
    }
    throw new SpoolLocked({ dir: this.#options.dir, pid: -1 });
  }

  /**
   * Opens a file this directory creates with its mode (`fileMode`, 0600 by default), set again
   * through the descriptor so the process's umask cannot narrow a widened mode.
   */
  async #create(file: string, flags: "w"): Promise<fs.FileHandle> {
    const mode = this.#options.fileMode ?? DEFAULT_FILE_MODE;
    const handle = await fs.open(file, flags, mode);
    try {
      await handle.chmod(mode);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return handle;
  }

  /** The file name of one of this directory's segments. */
  fileName(segment: SegmentNumber): string {
    return segmentFileName(segment, this.#options.fileKind);
  }

  pathOf(name: string): string {
    return path.join(this.#options.dir, name);
  }

  async readManifest(name = MANIFEST_FILE_NAME): Promise<string | null> {
    const file = this.pathOf(name);
    try {
      return await fs.readFile(file, "utf8");
    } catch (cause) {
      if (errorCode(cause) === "ENOENT") return null;
      throw new StorageFailed({ operation: "read", file, code: errorCode(cause), cause });
    }
  }

  async writeManifest(text: string, name = MANIFEST_FILE_NAME): Promise<void> {
    const file = this.pathOf(name);
    const temporary = `${file}.tmp`;
    await storage("write", temporary, async () => {
      const handle = await this.#create(temporary, "w");
      try {
        await handle.writeFile(text, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temporary, file);
      await this.syncDirectory();
    });
  }

  async listSegments(): Promise<readonly SegmentNumber[]> {
    const names = await storage("list", this.#options.dir, () => fs.readdir(this.#options.dir));
    const segments: SegmentNumber[] = [];
    for (const name of names) {
      const segment = parseSegmentFileName(name, this.#options.fileKind);
      if (segment !== undefined) segments.push(segment);
    }
    return segments.sort((a, b) => a - b);
  }

  /** Creates the segment at full size, zero-filled and flushed, under a temporary name first. */
  prepare(segment: SegmentNumber): Promise<void> {
    let pending = this.#preparing.get(segment);
    if (pending === undefined) {
      pending = this.#prepare(segment);
      this.#preparing.set(segment, pending);
      // A failed preparation may be retried by the next call (unless another took its place).
      const failed = pending;
      failed.catch(() => {
        if (this.#preparing.get(segment) === failed) this.#preparing.delete(segment);
      });
    }
    return pending;
  }

  async #prepare(segment: SegmentNumber): Promise<void> {
    const file = this.pathOf(this.fileName(segment));
    const existing = await fs.stat(file).catch(() => undefined);
    if (existing !== undefined) {
      if (existing.size !== this.#options.segmentByteSize) {
        throw new StorageFailed({
          operation: "open",
          file,
          code: "ESIZE",
          cause: new Error(
            `segment is ${existing.size} bytes, expected ${this.#options.segmentByteSize}`,
          ),
        });
      }
      return;
    }
    if (await this.#reuseSpare(segment)) return;
    const temporary = `${file}.tmp`;
    const zeroing = { cancelled: false, renaming: false };
    this.#zeroing.set(segment, zeroing);
    try {
      await storage("preallocate", temporary, async () => {
        const handle = await this.#create(temporary, "w");
        try {
          const pageByteSize = this.#zeroFillPageByteSize;
          const { segmentByteSize } = this.#options;
          if (pageByteSize === undefined) await zeroFill(handle, segmentByteSize, zeroing);
          else await zeroFillPages(handle, segmentByteSize, zeroing, pageByteSize);
          if (!zeroing.cancelled) await handle.datasync();
        } finally {
          await handle.close();
        }
        // Checked and marked in one turn: past this point a caller waits for the rename.
        if (zeroing.cancelled) {
          await fs.rm(temporary, { force: true });
          return;
        }
        zeroing.renaming = true;
        await fs.rename(temporary, file);
        await this.syncDirectory();
        this.prepared.zeroFilled += 1;
      });
    } finally {
      this.#zeroing.delete(segment);
    }
  }

  /** The recycled segments waiting in the directory, oldest first (listed once). */
  async #spareList(): Promise<SegmentNumber[]> {
    if (this.#spares === undefined) {
      const names = await storage("list", this.#options.dir, () => fs.readdir(this.#options.dir));
      const found: SegmentNumber[] = [];
      for (const name of names) {
        const spare = parseRecycledFileName(name);
        if (spare !== undefined) found.push(spare);
      }
      this.#spares ??= found.sort((a, b) => a - b);
    }
    return this.#spares;
  }

  /**
   * Makes the segment from a recycled one, if one waits: one rename, then the directory flushed
   * so the new name is durable before any record is written under it. Its blocks are written
   * already (claims 62-63 without a zero fill); its records are an earlier life's, stale by
   * their stamp. A crash before the rename leaves the spare; after it, a segment of stale
   * records, which opening reads as the log's unwritten end.
   */
  async #reuseSpare(segment: SegmentNumber): Promise<boolean> {
    if ((this.#options.fileKind ?? "data") !== "data") return false;
    const spares = await this.#spareList();
    const spare = spares.shift();
    if (spare === undefined) return false;
    const from = this.pathOf(recycledFileName(spare));
    const file = this.pathOf(this.fileName(segment));
    try {
      await fs.rename(from, file);
    } catch (cause) {
      // Gone (removed by hand): zero-fill instead.
      if (errorCode(cause) === "ENOENT") return false;
      throw new StorageFailed({ operation: "rename", file: from, code: errorCode(cause), cause });
    }
    await storage("sync directory", this.#options.dir, () => this.syncDirectory());
    this.prepared.recycled += 1;
    return true;
  }

  /**
   * A segment needed before its zero fill is done (appends outran it): the zero fill is
   * abandoned and the segment created at full size with no blocks written (`ftruncate`). It
   * reads as zeros, as a zero-filled one does; its flushes pay for block allocation instead of
   * the appends waiting for the zero fill.
   */
  async #createSparse(segment: SegmentNumber): Promise<void> {
    const file = this.pathOf(this.fileName(segment));
    const temporary = `${file}.sparse.tmp`;
    await storage("preallocate", temporary, async () => {
      const handle = await this.#create(temporary, "w");
      try {
        await handle.truncate(this.#options.segmentByteSize);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temporary, file);
      await this.syncDirectory();
    });
    this.sparseSegments += 1;
    this.prepared.zeroFilled += 1;
  }

  /** The open handle of a prepared segment. */
  async handle(segment: SegmentNumber): Promise<fs.FileHandle> {
    const open = this.#handles.get(segment);
    if (open !== undefined) return open;
    const zeroing = this.#zeroing.get(segment);
    if (
      this.#sparseWhenNeeded &&
      zeroing !== undefined &&
      !zeroing.renaming &&
      !zeroing.cancelled
    ) {
      // Needed now, and its zero fill is still running: do not wait for it.
      zeroing.cancelled = true;
      const abandoned = this.#preparing.get(segment);
      if (abandoned !== undefined) {
        const stopping = abandoned.catch(() => undefined);
        this.#abandoned.add(stopping);
        void stopping.then(() => this.#abandoned.delete(stopping));
      }
      const sparse = this.#createSparse(segment);
      this.#preparing.set(segment, sparse);
      sparse.catch(() => {
        if (this.#preparing.get(segment) === sparse) this.#preparing.delete(segment);
      });
    }
    await this.prepare(segment);
    const again = this.#handles.get(segment);
    if (again !== undefined) return again;
    const file = this.pathOf(this.fileName(segment));
    const [handle, flushHandle] = await storage("open", file, () =>
      Promise.all([fs.open(file, constants.O_RDWR), fs.open(file, constants.O_RDONLY)]),
    );
    const raced = this.#handles.get(segment);
    if (raced !== undefined) {
      await Promise.all([handle.close(), flushHandle.close()]);
      return raced;
    }
    this.#handles.set(segment, handle);
    this.#flushHandles.set(segment, flushHandle);
    return handle;
  }

  /** The segment's second open file, for a flush beside another (see #flushHandles). */
  flushHandle(segment: SegmentNumber): fs.FileHandle | undefined {
    return this.#flushHandles.get(segment);
  }

  /**
   * Keeps a reclaimed data segment to become a later one: closed, renamed to
   * `recycled-NNNNNNNNNN.seg`, and the directory flushed; deleted instead when
   * RECYCLED_SEGMENTS_MAX wait already. A crash before the rename leaves the segment, whose
   * messages are all done; after it, a spare that no listing of segments shows.
   */
  async recycle(segment: SegmentNumber): Promise<void> {
    const spares = await this.#spareList();
    if ((this.#options.fileKind ?? "data") !== "data" || spares.length >= RECYCLED_SEGMENTS_MAX) {
      return this.remove(segment);
    }
    await this.#close(segment);
    const file = this.pathOf(this.fileName(segment));
    const spare = this.pathOf(recycledFileName(segment));
    await storage("rename", file, async () => {
      await fs.rename(file, spare);
      await this.syncDirectory();
    });
    spares.push(segment);
  }

  /** Closes a segment's open files and forgets its preparation. */
  async #close(segment: SegmentNumber): Promise<void> {
    const handle = this.#handles.get(segment);
    const flushHandle = this.#flushHandles.get(segment);
    this.#handles.delete(segment);
    this.#flushHandles.delete(segment);
    this.#preparing.delete(segment);
    const file = this.pathOf(this.fileName(segment));
    await storage("close", file, async () => {
      await handle?.close();
      await flushHandle?.close();
    });
  }

  /** Closes and deletes a segment file, then makes the deletion durable. */
  async remove(segment: SegmentNumber): Promise<void> {
    await this.#close(segment);
    const file = this.pathOf(this.fileName(segment));
    await storage("remove", file, async () => {
      await fs.rm(file, { force: true });
      await this.syncDirectory();
    });
  }

  openHandle(segment: SegmentNumber): fs.FileHandle | undefined {
    return this.#handles.get(segment);
  }

  async read(segment: SegmentNumber, offset: number, byteSize: number): Promise<Uint8Array> {
    const handle = await this.handle(segment);
    const file = this.fileName(segment);
    return storage("read", file, async () => {
      const target = Buffer.alloc(byteSize);
      const { bytesRead } = await handle.read(target, 0, byteSize, offset);
      return bytesRead === byteSize ? target : target.subarray(0, bytesRead);
    });
  }

  async syncDirectory(): Promise<void> {
    const handle = await fs.open(this.#options.dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#preparing.values(), ...this.#abandoned]);
    const handles = [...this.#handles.values(), ...this.#flushHandles.values()];
    this.#handles.clear();
    this.#flushHandles.clear();
    await Promise.all(handles.map((handle) => handle.close()));
    if (this.#locked) {
      this.#locked = false;
      LOCKED_HERE.delete(path.resolve(this.#options.dir));
      await fs.rm(this.pathOf(LOCK_FILE_NAME), { force: true });
    }
  }
}

/**
 * The conformance suite's eyes on a real file system: what a power cut would keep of the files
 * an adapter writes, learned by watching the calls that make bytes durable. While installed, it
 * wraps `FileHandle.datasync` and `FileHandle.sync`, `fs.fdatasyncSync` and `fs.fsyncSync`, and
 * `@riaskov/mmap-io`'s `map` and `sync`: at each such call it copies what the file holds then
 * (the page cache, maps included), and once the call returns that copy is the file's durable
 * image. Bytes written after a sync began, or never synced, are not in it, exactly as a power
 * cut could lose them; a file never synced has no image at all.
 *
 * What it does not model: directory entries (a file in the cut is any file present at the
 * cut), and orderings finer than "the file as it was when its sync began". Adapters that reach
 * the disk some other way give the suite `durableBytes` and `powerCut` instead.
 */
import fs from "node:fs";
import * as fsPromises from "node:fs/promises";
import { createRequire, syncBuiltinESMExports } from "node:module";
import * as path from "node:path";

/** A file by device and inode, so a sync through a temporary name counts after its rename. */
type FileKey = string;

interface Snapshot {
  readonly key: FileKey;
  readonly bytes: Uint8Array;
  readonly stamp: number;
}

interface Image {
  readonly bytes: Uint8Array;
  readonly stamp: number;
}

/**
 * The files of each watched directory as a power cut at one instant leaves them.
 *
 * @example
 * const image = recorder.cut(); await spool.close(); DurabilityRecorder.restore(image);
 */
export interface PowerCutImage {
  /** Directory → file name → its durable bytes, or null when nothing of it is durable. */
  readonly directories: ReadonlyMap<string, ReadonlyMap<string, Uint8Array | null>>;
}

interface MmapIoLike {
  sync: (map: object, offset: number, size: number, blocking: boolean, invalidate: boolean) => void;
}

type FileHandlePrototype = Record<"datasync" | "sync", (this: { fd: number }) => Promise<void>>;

let installed: DurabilityRecorder | undefined;

const keyOf = (stat: fs.Stats): FileKey => `${stat.dev}:${stat.ino}`;

/** mmap-io as the adapters load it, when it is installed. */
function loadMmapIo(): MmapIoLike | undefined {
  try {
    return createRequire(import.meta.url)("@riaskov/mmap-io") as MmapIoLike;
  } catch {
    return undefined;
  }
}

/**
 * Watches syncs while installed; one at a time per process.
 *
 * @example
 * const recorder = await DurabilityRecorder.install();
 * try { await work(); recorder.durableBytes(file, 0, 4096); } finally { recorder.uninstall(); }
 */
export class DurabilityRecorder {
  readonly #images = new Map<FileKey, Image>();
  readonly #directories = new Set<string>();
  readonly #undo: (() => void)[] = [];
  #stamp = 0;

  private constructor() {}

  /** Starts watching; throws when another recorder is installed. */
  static async install(): Promise<DurabilityRecorder> {
    if (installed !== undefined) throw new Error("a DurabilityRecorder is installed already");
    const recorder = new DurabilityRecorder();
    installed = recorder;
    try {
      await recorder.#patchFileHandles();
      recorder.#patchSyncCalls();
      recorder.#patchMmapIo();
    } catch (error) {
      recorder.uninstall();
      throw error;
    }
    return recorder;
  }

  /** Stops watching and puts every wrapped function back. Idempotent. */
  uninstall(): void {
    for (const undo of this.#undo.splice(0).reverse()) undo();
    syncBuiltinESMExports();
    if (installed === this) installed = undefined;
  }

  /**
   * What a power cut now would keep of `byteSize` bytes at `offset` of `file`: undefined when
   * nothing of the file was ever synced; shorter than asked where the durable file ends.
   */
  durableBytes(file: string, offset: number, byteSize: number): Uint8Array | undefined {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (stat === undefined) return undefined;
    const image = this.#images.get(keyOf(stat));
    return image?.bytes.slice(offset, offset + byteSize);
  }

  /** Every directory holding a file that was synced while this recorder watched. */
  get directories(): ReadonlySet<string> {
    return this.#directories;
  }

  /** The watched directories as a power cut at this instant would leave them. */
  cut(): PowerCutImage {
    const directories = new Map<string, Map<string, Uint8Array | null>>();
    for (const dir of this.#directories) {
      const files = new Map<string, Uint8Array | null>();
      for (const name of fs.readdirSync(dir)) {
        const stat = fs.lstatSync(path.join(dir, name), { throwIfNoEntry: false });
        if (stat === undefined || !stat.isFile()) continue;
        files.set(name, this.#images.get(keyOf(stat))?.bytes.slice() ?? null);
      }
      directories.set(dir, files);
    }
    return { directories };
  }

  /**
   * Puts the directories back as `image` has them (call it once the spool is closed): a file
   * with durable bytes gets exactly those, one with none is removed (as is a file made after
   * the cut). Files removed after the cut are not brought back.
   */
  static restore(image: PowerCutImage): void {
    for (const [dir, files] of image.directories) {
      for (const name of fs.readdirSync(dir)) {
        const file = path.join(dir, name);
        if (!files.has(name) && fs.lstatSync(file).isFile()) fs.rmSync(file, { force: true });
      }
      for (const [name, bytes] of files) {
        const file = path.join(dir, name);
        if (bytes === null) fs.rmSync(file, { force: true });
        else fs.writeFileSync(file, bytes);
      }
    }
  }

  /** The file behind `fd` as the page cache holds it now, or undefined for a non-file. */
  #snapshot(fd: number): Snapshot | undefined {
    // Through /proc, so a descriptor opened write-only can still be read.
    return this.#snapshotOf(`/proc/self/fd/${fd}`);
  }

  /** The file at `file` (a path or a /proc descriptor link) as the page cache holds it now. */
  #snapshotOf(file: string): Snapshot | undefined {
    let reader: number;
    try {
      reader = fs.openSync(file, "r");
    } catch {
      return undefined;
    }
    try {
      const stat = fs.fstatSync(reader);
      // A directory's fsync makes entries durable, which this recorder does not model.
      if (!stat.isFile()) return undefined;
      this.#directories.add(path.dirname(fs.readlinkSync(`/proc/self/fd/${reader}`)));
      const bytes = new Uint8Array(stat.size);
      for (let at = 0; at < bytes.byteLength; ) {
        const read = fs.readSync(reader, bytes, at, bytes.byteLength - at, at);
        if (read === 0) break;
        at += read;
      }
      this.#stamp += 1;
      return { key: keyOf(stat), bytes, stamp: this.#stamp };
    } finally {
      fs.closeSync(reader);
    }
  }

  /** A sync that began with `snapshot` completed: its bytes (or `range` of them) are durable. */
  #commit(snapshot: Snapshot | undefined, range?: { offset: number; byteSize: number }): void {
    if (snapshot === undefined) return;
    const earlier = this.#images.get(snapshot.key);
    if (range === undefined) {
      // Two syncs of one file at once: the later-begun one's copy holds more.
      if (earlier !== undefined && earlier.stamp > snapshot.stamp) return;
      this.#images.set(snapshot.key, { bytes: snapshot.bytes, stamp: snapshot.stamp });
      return;
    }
    const bytes = new Uint8Array(snapshot.bytes.byteLength);
    if (earlier !== undefined) bytes.set(earlier.bytes.subarray(0, bytes.byteLength));
    const end = Math.min(range.offset + range.byteSize, bytes.byteLength);
    bytes.set(snapshot.bytes.subarray(range.offset, end), range.offset);
    this.#images.set(snapshot.key, { bytes, stamp: Math.max(earlier?.stamp ?? 0, snapshot.stamp) });
  }

  async #patchFileHandles(): Promise<void> {
    const probe = await fsPromises.open("/dev/null", "r");
    const prototype = Object.getPrototypeOf(probe) as FileHandlePrototype;
    await probe.close();
    for (const name of ["datasync", "sync"] as const) {
      const original = prototype[name];
      const recorder = this;
      prototype[name] = async function (this: { fd: number }) {
        const snapshot = recorder.#snapshot(this.fd);
        await original.call(this);
        recorder.#commit(snapshot);
      };
      this.#undo.push(() => (prototype[name] = original));
    }
  }

  #patchSyncCalls(): void {
    const calls = fs as unknown as Record<"fdatasyncSync" | "fsyncSync", (fd: number) => void>;
    for (const name of ["fdatasyncSync", "fsyncSync"] as const) {
      const original = calls[name];
      calls[name] = (fd: number) => {
        const snapshot = this.#snapshot(fd);
        original(fd);
        this.#commit(snapshot);
      };
      this.#undo.push(() => (calls[name] = original));
    }
    // Modules that imported these by name see the wrapped ones too.
    syncBuiltinESMExports();
  }

  #patchMmapIo(): void {
    const mmapIo = loadMmapIo();
    if (mmapIo === undefined) return;
    const { sync } = mmapIo;
    mmapIo.sync = (mapped, offset, byteSize, blocking, invalidate) => {
      // MS_ASYNC only schedules writeback: nothing is durable when it returns.
      const snapshots = blocking ? this.#mappedFiles(mapped, offset, byteSize) : [];
      sync.call(mmapIo, mapped, offset, byteSize, blocking, invalidate);
      for (const snapshot of snapshots) this.#commit(snapshot, { offset, byteSize });
    };
    this.#undo.push(() => (mmapIo.sync = sync));
  }

  /**
   * The files a map may be of, as snapshots. mmap-io's `map` cannot be wrapped (the addon
   * defines it read-only), so the map's file is found in /proc/self/maps: a shared mapping of
   * the map's length from offset 0 whose file holds, in the synced range, the map's bytes (a
   * shared map and its file's page cache are one). Two mapped files identical in that range
   * are both taken, the one blind spot.
   */
  #mappedFiles(mapped: object, offset: number, byteSize: number): Snapshot[] {
    const view = mapped as Uint8Array;
    const range = view.subarray(offset, offset + byteSize);
    const snapshots: Snapshot[] = [];
    const seen = new Set<string>();
    for (const line of fs.readFileSync("/proc/self/maps", "utf8").split("\n")) {
      const fields = line.trim().split(/\s+/);
      const [addresses, permissions, mapOffset, , inode, file] = fields;
      if (file === undefined || fields.length !== 6 || inode === "0") continue;
      if (!permissions?.includes("s") || Number.parseInt(mapOffset!, 16) !== 0) continue;
      const [start, end] = addresses!.split("-").map((hex) => Number.parseInt(hex, 16));
      if (end! - start! < view.byteLength || seen.has(file)) continue;
      seen.add(file);
      const snapshot = this.#snapshotOf(file);
      const held = snapshot?.bytes.subarray(offset, offset + byteSize);
      if (snapshot !== undefined && held !== undefined && Buffer.from(held).equals(range)) {
        snapshots.push(snapshot);
      }
    }
    return snapshots;
  }
}

/**
 * The `memory` adapter, for tests: segments are byte arrays, and a second copy holds only what
 * flushes covered, so a test can ask what would survive a power cut right now.
 */
import {
  type AdapterFactory,
  type ByteOffset,
  type ByteSize,
  type FlushAdapter,
  FlushFailed,
  type FlushMode,
  InvariantViolation,
  RECYCLED_SEGMENTS_MAX,
  type Region,
  type SegmentNumber,
  type SegmentsPrepared,
} from "@spool/core";

// 512 bytes: the unit a disk writes atomically (a sector); a torn page mixes old and new ones.
const SECTOR_BYTE_SIZE = 512;

/**
 * mulberry32: a small seeded generator in [0, 1), so a power cut (or a simulated workload) is
 * reproducible from its seed.
 *
 * @example
 * const random = seededRandom(42);
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An in-memory spool directory that outlives the adapters opened on it. @example const disk = new MemoryDisk() */
export class MemoryDisk {
  manifest: string | null = null;
  /** Small documents other than the manifest, by name (written durably at once). */
  readonly documents = new Map<string, string>();
  /** What writes made: the page cache. */
  readonly written = new Map<SegmentNumber, Uint8Array>();
  /** What flushes covered: what a power cut keeps. */
  readonly durable = new Map<SegmentNumber, Uint8Array>();
  /** Every flushed region in order, for tests that check flush placement. */
  readonly flushes: Region[] = [];
  /**
   * Recycled segments waiting to become later ones (renames are durable at once here, as the
   * directory adapters flush the directory after each): the number each had, and its bytes.
   */
  readonly recycled: { segment: SegmentNumber; written: Uint8Array; durable: Uint8Array }[] = [];
  #index: MemoryDisk | undefined;
  readonly #faults: { operation: "write" | "flush"; code: string }[] = [];

  /** The index file's segments, kept beside the data segments. @example disk.index().durable */
  index(): MemoryDisk {
    this.#index ??= new MemoryDisk();
    return this.#index;
  }

  /**
   * The disk as a power cut at this instant could leave it, chosen by `seed` (the same seed
   * gives the same disk): flushed bytes survive; each page written since it was last flushed
   * survives whole, not at all, or torn, each 512-byte sector old or new (as RocksDB's fault
   * injection and TigerBeetle's simulated storage model it).
   *
   * @example
   * const survivor = disk.powerCut(42);
   */
  powerCut(seed: number, pageByteSize = 4096): MemoryDisk {
    const random = seededRandom(seed);
    const survivor = new MemoryDisk();
    survivor.manifest = this.manifest;
    for (const [name, text] of this.documents) survivor.documents.set(name, text);
    survivor.#keepRecycled(this);
    for (const [segment, durable] of this.durable) {
      const written = this.written.get(segment) ?? durable;
      const kept = durable.slice();
      for (let page = 0; page < kept.byteLength; page += pageByteSize) {
        const end = Math.min(page + pageByteSize, kept.byteLength);
        if (Buffer.compare(written.subarray(page, end), durable.subarray(page, end)) === 0)
          continue;
        const fate = random();
        if (fate < 1 / 3) continue; // the page never reached the disk
        if (fate < 2 / 3) {
          kept.set(written.subarray(page, end), page);
          continue;
        }
        for (let sector = page; sector < end; sector += SECTOR_BYTE_SIZE) {
          if (random() < 0.5) kept.set(written.subarray(sector, sector + SECTOR_BYTE_SIZE), sector);
        }
      }
      survivor.written.set(segment, kept);
      survivor.durable.set(segment, kept.slice());
    }
    if (this.#index !== undefined) {
      survivor.#index = this.#index.powerCut(Math.floor(random() * 0x7fffffff), pageByteSize);
    }
    return survivor;
  }

  /** A power cut keeps the recycled segments as flushed (their bytes were all flushed). */
  #keepRecycled(from: MemoryDisk): void {
    for (const { segment, durable } of from.recycled) {
      this.recycled.push({ segment, written: durable.slice(), durable: durable.slice() });
    }
  }

  /** Makes the next `write` or `flush` fail with errno `code` (EIO, ENOSPC, ...). @example disk.failNext("flush", "EIO") */
  failNext(operation: "write" | "flush", code: string): void {
    this.#faults.push({ operation, code });
  }

  /** @internal The fault to raise for this operation, if one is armed. */
  takeFault(operation: "write" | "flush"): string | undefined {
    const at = this.#faults.findIndex((fault) => fault.operation === operation);
    if (at < 0) return undefined;
    const [fault] = this.#faults.splice(at, 1);
    return fault?.code;
  }

  /** The disk as a power cut would leave it: only flushed bytes. @example disk.afterPowerCut() */
  afterPowerCut(): MemoryDisk {
    const survivor = new MemoryDisk();
    survivor.manifest = this.manifest;
    for (const [name, text] of this.documents) survivor.documents.set(name, text);
    survivor.#keepRecycled(this);
    for (const [segment, bytes] of this.durable) {
      survivor.written.set(segment, bytes.slice());
      survivor.durable.set(segment, bytes.slice());
    }
    if (this.#index !== undefined) survivor.#index = this.#index.afterPowerCut();
    return survivor;
  }
}

/**
 * A factory for the memory adapter on `disk` (a fresh one when omitted).
 *
 * @example
 * const disk = new MemoryDisk();
 * const spool = await openSpool({ dir: "mem", adapter: memoryAdapter(disk) });
 */
export function memoryAdapter(disk: MemoryDisk = new MemoryDisk()): AdapterFactory {
  return async (options) =>
    options.fileKind === "index"
      ? new MemoryAdapter(disk.index(), options.segmentByteSize, true)
      : new MemoryAdapter(disk, options.segmentByteSize);
}

class MemoryAdapter implements FlushAdapter {
  readonly name = "memory";
  // Flushes here mark their own region: two at once answer for themselves.
  readonly concurrentFlushes = true;
  readonly #disk: MemoryDisk;
  readonly #segmentByteSize: number;
  readonly #mapped = new Set<SegmentNumber>();
  readonly #prepared = { zeroFilled: 0, recycled: 0 };
  /** Whether this adapter holds the index file, whose segments are never recycled. */
  readonly #index: boolean;

  constructor(disk: MemoryDisk, segmentByteSize: number, index = false) {
    this.#index = index;
    this.#disk = disk;
    this.#segmentByteSize = segmentByteSize;
  }

  async readManifest(name?: string): Promise<string | null> {
    if (name === undefined) return this.#disk.manifest;
    return this.#disk.documents.get(name) ?? null;
  }
  async writeManifest(text: string, name?: string): Promise<void> {
    if (name === undefined) this.#disk.manifest = text;
    else this.#disk.documents.set(name, text);
  }
  async listSegments(): Promise<readonly SegmentNumber[]> {
    return [...this.#disk.written.keys()].sort((a, b) => a - b);
  }
  async removeSegment(segment: SegmentNumber): Promise<void> {
    this.#mapped.delete(segment);
    this.#disk.written.delete(segment);
    this.#disk.durable.delete(segment);
  }

  async recycleSegment(segment: SegmentNumber): Promise<void> {
    const written = this.#disk.written.get(segment);
    const durable = this.#disk.durable.get(segment);
    if (this.#index || written === undefined || durable === undefined) {
      return this.removeSegment(segment);
    }
    if (this.#disk.recycled.length >= RECYCLED_SEGMENTS_MAX) return this.removeSegment(segment);
    this.#mapped.delete(segment);
    this.#disk.written.delete(segment);
    this.#disk.durable.delete(segment);
    this.#disk.recycled.push({ segment, written, durable });
  }
  segmentsPrepared(): SegmentsPrepared {
    return { ...this.#prepared };
  }

  async prepareSegment(segment: SegmentNumber): Promise<void> {
    if (this.#disk.written.has(segment)) return;
    const spare = this.#index ? undefined : this.#disk.recycled.shift();
    if (spare !== undefined) {
      this.#disk.written.set(segment, spare.written);
      this.#disk.durable.set(segment, spare.durable);
      this.#prepared.recycled += 1;
      return;
    }
    this.#disk.written.set(segment, new Uint8Array(this.#segmentByteSize));
    this.#disk.durable.set(segment, new Uint8Array(this.#segmentByteSize));
    this.#prepared.zeroFilled += 1;
  }
  isMapped(segment: SegmentNumber): boolean {
    return this.#mapped.has(segment);
  }
  async map(segment: SegmentNumber): Promise<void> {
    await this.prepareSegment(segment);
    this.#mapped.add(segment);
  }
  stage(region: Region): Uint8Array {
    const bytes = this.#disk.written.get(region.segment);
    if (bytes === undefined || !this.#mapped.has(region.segment)) {
      throw new InvariantViolation({ message: `segment ${region.segment} is not mapped` });
    }
    return bytes.subarray(region.offset, region.offset + region.byteSize);
  }
  async write(region: Region): Promise<void> {
    this.#raise("write", region);
  }
  /** Every flush of the memory disk is durable once its call returned. */
  whenFlushed(): Promise<void> {
    return Promise.resolve();
  }
  async flush(region: Region, _mode: FlushMode): Promise<void> {
    this.#raise("flush", region);
    const written = this.#disk.written.get(region.segment);
    const durable = this.#disk.durable.get(region.segment);
    if (written === undefined || durable === undefined)
      throw new InvariantViolation({ message: "flush of a missing segment" });
    durable.set(written.subarray(region.offset, region.offset + region.byteSize), region.offset);
    this.#disk.flushes.push(region);
  }
  async read(segment: SegmentNumber, offset: ByteOffset, byteSize: ByteSize): Promise<Uint8Array> {
    const bytes = this.#disk.written.get(segment);
    if (bytes === undefined) throw new InvariantViolation({ message: `no segment ${segment}` });
    return bytes.slice(offset, offset + byteSize);
  }
  async close(): Promise<void> {
    this.#mapped.clear();
  }

  #raise(operation: "write" | "flush", region: Region): void {
    const code = this.#disk.takeFault(operation);
    if (code === undefined) return;
    const cause = Object.assign(new Error(`injected ${code} on ${operation}`), { code });
    throw new FlushFailed({
      file: `memory segment ${region.segment}`,
      offset: region.offset,
      byteSize: region.byteSize,
      code,
      cause,
    });
  }
}

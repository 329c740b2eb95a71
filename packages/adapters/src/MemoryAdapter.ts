/**
 * The `memory` adapter, for tests: segments are byte arrays, and a second copy holds only what
 * flushes covered, so a test can ask what would survive a power cut right now.
 */
import type {
  AdapterFactory,
  ByteOffset,
  ByteSize,
  FlushAdapter,
  FlushMode,
  Region,
  SegmentNumber,
} from "@spool/core";

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
  #index: MemoryDisk | undefined;

  /** The index file's segments, kept beside the data segments. @example disk.index().durable */
  index(): MemoryDisk {
    this.#index ??= new MemoryDisk();
    return this.#index;
  }

  /** The disk as a power cut would leave it: only flushed bytes. @example disk.afterPowerCut() */
  afterPowerCut(): MemoryDisk {
    const survivor = new MemoryDisk();
    survivor.manifest = this.manifest;
    for (const [name, text] of this.documents) survivor.documents.set(name, text);
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
    new MemoryAdapter(options.fileKind === "index" ? disk.index() : disk, options.segmentByteSize);
}

class MemoryAdapter implements FlushAdapter {
  readonly name = "memory";
  readonly #disk: MemoryDisk;
  readonly #segmentByteSize: number;
  readonly #mapped = new Set<SegmentNumber>();

  constructor(disk: MemoryDisk, segmentByteSize: number) {
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

  async prepareSegment(segment: SegmentNumber): Promise<void> {
    if (this.#disk.written.has(segment)) return;
    this.#disk.written.set(segment, new Uint8Array(this.#segmentByteSize));
    this.#disk.durable.set(segment, new Uint8Array(this.#segmentByteSize));
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
      throw new Error(`segment ${region.segment} is not mapped`);
    }
    return bytes.subarray(region.offset, region.offset + region.byteSize);
  }
  async write(_region: Region): Promise<void> {}
  async flush(region: Region, _mode: FlushMode): Promise<void> {
    const written = this.#disk.written.get(region.segment);
    const durable = this.#disk.durable.get(region.segment);
    if (written === undefined || durable === undefined)
      throw new Error("flush of a missing segment");
    durable.set(written.subarray(region.offset, region.offset + region.byteSize), region.offset);
    this.#disk.flushes.push(region);
  }
  async read(segment: SegmentNumber, offset: ByteOffset, byteSize: ByteSize): Promise<Uint8Array> {
    const bytes = this.#disk.written.get(segment);
    if (bytes === undefined) throw new Error(`no segment ${segment}`);
    return bytes.slice(offset, offset + byteSize);
  }
  async close(): Promise<void> {
    this.#mapped.clear();
  }
}

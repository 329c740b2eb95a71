import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { byteOffset, byteSize, type FlushAdapter, segmentNumber } from "@spool/core";
import { afterEach, describe, expect, it } from "vitest";
import { fileAdapter, MemoryDisk, memoryAdapter, mmapAdapter } from "../src/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const fresh = () => {
  const dir = mkdtempSync(path.join(tmpdir(), "spool-adapter-"));
  dirs.push(dir);
  return dir;
};

const options = (dir: string) => ({ dir, segmentByteSize: 64 * 1024, pageByteSize: 4096 });
const one = segmentNumber(1);

async function roundTrip(adapter: FlushAdapter): Promise<Uint8Array> {
  expect(adapter.isMapped(one)).toBe(false);
  await adapter.map(one);
  expect(adapter.isMapped(one)).toBe(true);
  const region = { segment: one, offset: byteOffset(4000), byteSize: byteSize(200) };
  adapter.stage(region).fill(7);
  await adapter.write(region);
  await adapter.flush(region, "sync");
  return adapter.read(one, byteOffset(3999), byteSize(202));
}

describe.each([
  ["file", fileAdapter()],
  ["mmap fdatasync", mmapAdapter()],
  ["mmap msync", mmapAdapter({ flushMethod: "msync" })],
])("%s adapter", (name, factory) => {
  it("pre-zeroes a segment at full size, maps it, and reads back what it flushed", async () => {
    const dir = fresh();
    const adapter = await factory(options(dir));
    const bytes = await roundTrip(adapter);
    expect(Array.from(bytes)).toEqual([0, ...new Array(200).fill(7), 0]);
    expect(statSync(path.join(dir, "data-0000000001.seg")).size).toBe(64 * 1024);
    expect(await adapter.listSegments()).toEqual([1]);
    await adapter.close();
  });

  it("keeps the manifest across reopen", async () => {
    const dir = fresh();
    const first = await factory(options(dir));
    expect(await first.readManifest()).toBeNull();
    await first.writeManifest('{"format":"spool"}');
    await first.close();
    const second = await factory(options(dir));
    expect(await second.readManifest()).toBe('{"format":"spool"}');
    await second.close();
  });

  it("creates a segment needed before its zero fill is done sparse (file; a map waits), and the zero fill never replaces it", async () => {
    const dir = fresh();
    const segmentByteSize = 256 * 1024 * 1024;
    const adapter = await factory({ ...options(dir), segmentByteSize });
    const two = segmentNumber(2);
    // The zero fill of 256 MiB takes most of a second here; the roll comes while it runs.
    const zeroFill = adapter.prepareSegment(two);
    const file = path.join(dir, "data-0000000002.seg");
    while (!existsSync(`${file}.tmp`)) await new Promise((resolve) => setTimeout(resolve, 1));
    await adapter.map(two);
    const created = statSync(file);
    expect(created.size).toBe(segmentByteSize);
    // Blocks allocated: far fewer than a zero-filled segment's for the file adapter; all of
    // them for a map (a store into an unallocated block on a full disk would raise SIGBUS).
    if (name === "file") expect(created.blocks * 512).toBeLessThan(segmentByteSize / 2);
    else expect(created.blocks * 512).toBeGreaterThanOrEqual(segmentByteSize);
    const region = { segment: two, offset: byteOffset(0), byteSize: byteSize(4096) };
    adapter.stage(region).fill(9);
    await adapter.write(region);
    await adapter.flush(region, "sync");
    await zeroFill;
    expect(Array.from(await adapter.read(two, byteOffset(4095), byteSize(2)))).toEqual([9, 0]);
    await adapter.close();
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("names the file in a typed error when a segment has the wrong size", async () => {
    const dir = fresh();
    const first = await factory(options(dir));
    await first.prepareSegment(one);
    await first.close();
    const second = await factory({ ...options(dir), segmentByteSize: 128 * 1024 });
    await expect(second.map(one)).rejects.toMatchObject({ _tag: "StorageFailed", code: "ESIZE" });
    await second.close();
  });
});

describe("memory adapter", () => {
  it("keeps only flushed bytes across a power cut", async () => {
    const disk = new MemoryDisk();
    const adapter = await memoryAdapter(disk)(options("mem"));
    await adapter.map(one);
    const flushed = { segment: one, offset: byteOffset(0), byteSize: byteSize(8) };
    const unflushed = { segment: one, offset: byteOffset(8), byteSize: byteSize(8) };
    adapter.stage(flushed).fill(1);
    await adapter.flush(flushed, "sync");
    adapter.stage(unflushed).fill(2);
    const survivor = disk.afterPowerCut();
    expect(Array.from(survivor.durable.get(one)!.subarray(0, 16))).toEqual([
      ...new Array(8).fill(1),
      ...new Array(8).fill(0),
    ]);
  });
});

describe("mmap adapter zero fill", () => {
  it("zero-fills a segment whose size is not a whole number of pages, to its last byte", async () => {
    const dir = fresh();
    const segmentByteSize = 3 * 4096 + 100;
    const adapter = await mmapAdapter()({ ...options(dir), segmentByteSize });
    await adapter.prepareSegment(one);
    expect(statSync(path.join(dir, "data-0000000001.seg")).size).toBe(segmentByteSize);
    await adapter.map(one);
    const bytes = await adapter.read(one, byteOffset(0), byteSize(segmentByteSize));
    expect(bytes.byteLength).toBe(segmentByteSize);
    expect(bytes.every((byte) => byte === 0)).toBe(true);
    await adapter.close();
  });
});

describe("mmap adapter limits", () => {
  it("refuses a segment larger than it can map with ConfigInvalid naming segmentByteSize", async () => {
    const opening = mmapAdapter()({ ...options("big"), segmentByteSize: 2 ** 31 });
    await expect(opening).rejects.toMatchObject({
      _tag: "ConfigInvalid",
      field: "segmentByteSize",
    });
  });
});

describe("file adapter blocking flushes", () => {
  // The adapter counts the flushes that ran on the calling thread (not part of FlushAdapter).
  const blockingFlushes = (adapter: FlushAdapter) =>
    (adapter as unknown as { readonly blockingFlushes: number }).blockingFlushes;

  async function flushOf(byteSizeMax: number | undefined, size: number) {
    const dir = fresh();
    const adapter = await fileAdapter(
      byteSizeMax === undefined ? {} : { blockingFlushByteSizeMax: byteSizeMax },
    )(options(dir));
    await adapter.map(one);
    const region = { segment: one, offset: byteOffset(0), byteSize: byteSize(size) };
    adapter.stage(region).fill(9);
    await adapter.write(region);
    await adapter.flush(region, "sync");
    const blocked = blockingFlushes(adapter) === 1;
    const bytes = await adapter.read(one, byteOffset(0), byteSize(size));
    await adapter.close();
    return { blocked, bytes };
  }

  it("blocks for a synchronous flush up to the size given, and never by default", async () => {
    const small = await flushOf(4096, 4096);
    expect(small.blocked).toBe(true);
    expect(Array.from(small.bytes)).toEqual(new Array(4096).fill(9));
    expect((await flushOf(4096, 4104)).blocked).toBe(false);
    expect((await flushOf(undefined, 64)).blocked).toBe(false);
    expect((await flushOf(undefined, 0)).blocked).toBe(false);
  });

  it("after a slow blocking flush, sends the next ones through libuv's pool", async () => {
    const dir = fresh();
    // Every fdatasync takes longer than 0 ms: the first blocks, and pauses the ones after it.
    const adapter = await fileAdapter({ blockingFlushByteSizeMax: 4096, blockingFlushSlowMs: 0 })(
      options(dir),
    );
    await adapter.map(one);
    const flushOnce = async (offset: number) => {
      const region = { segment: one, offset: byteOffset(offset), byteSize: byteSize(64) };
      adapter.stage(region).fill(5);
      await adapter.write(region);
      await adapter.flush(region, "sync");
      return blockingFlushes(adapter);
    };
    expect(await flushOnce(0)).toBe(1);
    expect(await flushOnce(64)).toBe(1);
    expect(Array.from(await adapter.read(one, byteOffset(0), byteSize(128)))).toEqual(
      new Array(128).fill(5),
    );
    await adapter.close();
  });

  it("refuses a bad size or slowness bound with ConfigInvalid", () => {
    expect(() => fileAdapter({ blockingFlushByteSizeMax: -1 })).toThrow(
      expect.objectContaining({ _tag: "ConfigInvalid", field: "blockingFlushByteSizeMax" }),
    );
    expect(() => fileAdapter({ blockingFlushByteSizeMax: 1.5 })).toThrow(
      expect.objectContaining({ _tag: "ConfigInvalid", field: "blockingFlushByteSizeMax" }),
    );
    expect(() => fileAdapter({ blockingFlushSlowMs: Number.NaN })).toThrow(
      expect.objectContaining({ _tag: "ConfigInvalid", field: "blockingFlushSlowMs" }),
    );
    expect(() => fileAdapter({ blockingFlushSlowMs: Number.POSITIVE_INFINITY })).not.toThrow();
  });
});

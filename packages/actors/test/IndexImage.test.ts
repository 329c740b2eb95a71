import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { byteOffset, byteSize, type Region, type SegmentNumber, segmentNumber } from "@spool/core";
import { describe, expect, it } from "vitest";
import { INDEX_IMAGE_SEGMENTS_MAX, IndexImage } from "../src/internal/IndexImage.js";

const SEGMENT_BYTES = 256;

async function indexAdapter(disk = new MemoryDisk()) {
  return memoryAdapter(disk)({
    dir: "q",
    segmentByteSize: SEGMENT_BYTES,
    pageByteSize: 64,
    fileKind: "index",
  });
}

/** Writes `bytes` at `offset` of `segment` of `adapter` durably, as a batch would. */
async function writeDurably(
  adapter: Awaited<ReturnType<typeof indexAdapter>>,
  segment: SegmentNumber,
  offset: number,
  bytes: Uint8Array,
): Promise<void> {
  await adapter.prepareSegment(segment);
  if (!adapter.isMapped(segment)) await adapter.map(segment);
  const region: Region = { segment, offset: byteOffset(offset), byteSize: byteSize(bytes.length) };
  adapter.stage(region).set(bytes);
  await adapter.write(region);
  await adapter.flush(region, "sync");
}

describe("IndexImage: the index segments being written, in memory", () => {
  it("reads a segment once, with what the file holds, and serves its gaps with the entries put since", async () => {
    const adapter = await indexAdapter();
    const one = segmentNumber(1);
    await writeDurably(adapter, one, 64, new Uint8Array(64).fill(7));
    const image = new IndexImage(adapter, SEGMENT_BYTES);
    await image.reserve(one);
    image.slot(one, 128, 64).set(new Uint8Array(64).fill(9));
    const view = image.view(one, 0, 192)!;
    expect([view[0], view[64], view[127], view[128], view[191]]).toEqual([0, 7, 7, 9, 9]);
    // Held: a second reservation needs no read.
    expect(image.reserve(one)).toBeUndefined();
  });

  it("reads a segment the file does not have yet as zeros", async () => {
    const image = new IndexImage(await indexAdapter(), SEGMENT_BYTES);
    await image.reserve(segmentNumber(3));
    expect(image.view(segmentNumber(3), 0, SEGMENT_BYTES)!.every((byte) => byte === 0)).toBe(true);
  });

  it("never forgets a segment with an entry still waiting, and forgets idle ones past its bound", async () => {
    const image = new IndexImage(await indexAdapter(), SEGMENT_BYTES);
    const busy = segmentNumber(1);
    await image.reserve(busy);
    image.slot(busy, 0, 64).set(new Uint8Array(64).fill(1));
    for (let n = 2; n <= INDEX_IMAGE_SEGMENTS_MAX + 3; n++) {
      const segment = segmentNumber(n);
      await image.reserve(segment);
      image.settled(segment);
    }
    expect(image.segmentsHeld).toBe(INDEX_IMAGE_SEGMENTS_MAX);
    // The waiting entry's segment is kept, with the entry.
    expect(image.view(busy, 0, 1)?.[0]).toBe(1);
    // Once it settles it may go: an idle segment less recently used than the rest.
    image.settled(busy);
    await image.reserve(segmentNumber(50));
    expect(image.view(busy, 0, 1)).toBeUndefined();
    expect(image.segmentsHeld).toBe(INDEX_IMAGE_SEGMENTS_MAX);
  });

  it("reads a forgotten segment again with every entry that was flushed into it", async () => {
    const adapter = await indexAdapter();
    const image = new IndexImage(adapter, SEGMENT_BYTES);
    const one = segmentNumber(1);
    await image.reserve(one);
    const entry = new Uint8Array(64).fill(5);
    image.slot(one, 192, 64).set(entry);
    await writeDurably(adapter, one, 192, entry);
    image.settled(one);
    image.forgetBelow(2);
    expect(image.view(one, 192, 1)).toBeUndefined();
    await image.reserve(one);
    expect(image.view(one, 192, 1)?.[0]).toBe(5);
  });

  it("a slot of a segment not reserved is a bug, and says so", () => {
    const image = new IndexImage(new MemoryDisk() as never, SEGMENT_BYTES);
    expect(() => image.slot(segmentNumber(1), 0, 64)).toThrow(/not reserved/);
  });
});

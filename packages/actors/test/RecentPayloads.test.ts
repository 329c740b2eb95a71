import type {
  ByteOffset,
  ByteSize,
  PlacedWrite,
  SegmentNumber,
  Seq,
  WriteRequest,
} from "@spool/core";
import { describe, expect, it } from "vitest";
import { RecentPayloads } from "../src/internal/RecentPayloads.js";

/** A flushed batch of `payloads` from `firstSeq` on (only seq and payload matter here). */
function batch(firstSeq: number, payloads: readonly string[]): PlacedWrite[] {
  return payloads.map((text, i) => ({
    request: { payload: new TextEncoder().encode(text) } as unknown as WriteRequest,
    seq: (firstSeq + i) as Seq,
    segment: 1 as SegmentNumber,
    offset: 0 as ByteOffset,
    byteSize: 0 as ByteSize,
  }));
}

const text = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : new TextDecoder().decode(bytes);

describe("RecentPayloads: the payloads of the latest batches, for takes at the tail", () => {
  it("serves every payload of the batches it holds, and nothing it never held", () => {
    const recent = new RecentPayloads(1024);
    recent.remember(batch(1, ["a", "bb", ""]));
    recent.remember(batch(4, ["dddd"]));
    expect([1, 2, 3, 4].map((seq) => text(recent.get(seq)))).toEqual(["a", "bb", "", "dddd"]);
    expect(recent.get(0)).toBeUndefined();
    expect(recent.get(5)).toBeUndefined();
    expect(recent.byteSize).toBe(7);
  });

  it("keeps a copy: the appender's buffer changing after the flush changes nothing served", () => {
    const recent = new RecentPayloads(1024);
    const writes = batch(1, ["abc"]);
    recent.remember(writes);
    writes[0]!.request.payload.fill(0);
    expect(text(recent.get(1))).toBe("abc");
  });

  it("forgets the oldest batches past its budget, and never holds more than it", () => {
    const recent = new RecentPayloads(10);
    for (let first = 1; first <= 40; first += 2) {
      recent.remember(batch(first, ["xx", "yy"]));
      expect(recent.byteSize).toBeLessThanOrEqual(10);
    }
    // Batches of 4 bytes: the last two (seqs 37-40) fit in 10 bytes, the ones before are gone.
    expect([36, 37, 38, 39, 40].map((seq) => text(recent.get(seq)))).toEqual([
      undefined,
      "xx",
      "yy",
      "xx",
      "yy",
    ]);
    expect(recent.get(1)).toBeUndefined();
  });

  it("does not keep a batch bigger than its whole budget, nor one out of seq order", () => {
    const recent = new RecentPayloads(4);
    recent.remember(batch(1, ["12345"]));
    expect(recent.get(1)).toBeUndefined();
    recent.remember(batch(10, ["ab"]));
    recent.remember(batch(5, ["cd"]));
    expect([text(recent.get(10)), recent.get(5)]).toEqual(["ab", undefined]);
  });

  it("clear forgets everything", () => {
    const recent = new RecentPayloads(64);
    recent.remember(batch(1, ["a"]));
    recent.clear();
    expect([recent.get(1), recent.byteSize]).toEqual([undefined, 0]);
  });
});

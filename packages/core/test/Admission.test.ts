import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AdmissionState,
  admit,
  admitParked,
  type BatchId,
  DEFAULT_CONFIG,
  emptyBatch,
  emptyStorage,
  type RequestId,
  resolveConfig,
  segmentNumber,
  seq,
  type WriteRequest,
  writerId,
} from "../src/index.js";
import { byteOffset } from "../src/Units.js";

const request = (id: number, size = 1024): WriteRequest => ({
  id: id as RequestId,
  writerId: writerId(1),
  senderId: writerId(1),
  payload: new Uint8Array(size),
  durability: "flushed",
});

const start = (): AdmissionState => ({
  batch: emptyBatch(1 as BatchId),
  storage: emptyStorage(),
  cursor: { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) },
  refusal: null,
  skipped: [],
  resending: [],
});

describe("admit", () => {
  it("takes parked positioned writes in slot order, and a second write to a slot after the first", () => {
    const slot = (id: number, entry: number): WriteRequest => ({
      ...request(id, 64),
      target: { seq: seq(entry), segment: segmentNumber(1), offset: byteOffset((entry - 1) * 64) },
    });
    const parked: AdmissionState = {
      ...start(),
      storage: { requests: [slot(1, 7), slot(2, 3), slot(3, 5), slot(4, 3)], byteSize: 256 },
    };
    const next = admitParked(parked, 0, DEFAULT_CONFIG);
    expect(next.batch.writes.map((w) => w.request.id)).toEqual([2, 3, 1]);
    // Request 4 writes slot 3 again: it waits for the next batch, behind request 2.
    expect(next.storage.requests.map((r) => r.id)).toEqual([4]);
  });

  it("places positioned writes where they say, parks one that lies before the batch end, and leaves the tail alone", () => {
    const slot = (id: number, entry: number): WriteRequest => ({
      ...request(id, 64),
      target: { seq: seq(entry), segment: segmentNumber(1), offset: byteOffset((entry - 1) * 64) },
    });
    const next = admit(
      start(),
      [slot(1, 5), slot(2, 6), slot(3, 3), slot(4, 7)],
      0,
      DEFAULT_CONFIG,
    );
    expect(next.batch.writes.map((w) => [w.seq, w.offset, w.byteSize])).toEqual([
      [5, 256, 64],
      [6, 320, 64],
    ]);
    // Slot 3 lies before the batch end: parked, and slot 7 behind it keeps its order.
    expect(next.refusal).toBe("byteOffset");
    expect(next.storage.requests.map((r) => r.id)).toEqual([3, 4]);
    expect(next.cursor).toEqual(start().cursor);
  });

  it("adds contiguous appends in order with dense seqs", () => {
    const next = admit(start(), [request(1), request(2), request(3)], 0, DEFAULT_CONFIG);
    expect(next.batch.writes.map((w) => [w.seq, w.offset])).toEqual([
      [1, 0],
      [2, 1064],
      [3, 2128],
    ]);
    expect(next.batch.contiguousRun).toBe(3);
  });

  it("parks a request beyond the page span, and every later one behind it (claim 12)", () => {
    const config = { ...DEFAULT_CONFIG, maxPageSpan: 1 };
    const next = admit(
      start(),
      [request(1), request(2), request(3), request(4), request(5)],
      0,
      config,
    );
    // 3 records of 1064 bytes fit page 0; the 4th ends on page 1.
    expect(next.batch.writes.map((w) => w.request.id)).toEqual([1, 2, 3]);
    expect(next.storage.requests.map((r) => r.id)).toEqual([4, 5]);
    expect(next.refusal).toBe("pageOffset");
  });

  it("parks a request that rolls into the next segment (claim 13)", () => {
    const config = resolveConfig({ segmentByteSize: 4096, maxPageSpan: 4 });
    const next = admit(start(), [request(1), request(2), request(3), request(4)], 0, config);
    expect(next.batch.writes).toHaveLength(3);
    expect(next.refusal).toBe("byteOffset");
    const after = admitParked({ ...next, batch: emptyBatch(2 as BatchId) }, 1, config);
    expect(after.batch.writes.map((w) => [w.seq, w.segment, w.offset])).toEqual([[4, 2, 0]]);
  });

  it("skips requests when temporary storage is full and remembers them (claim 64)", () => {
    const config = { ...DEFAULT_CONFIG, maxPageSpan: 1, temporaryStorageCountMax: 1 };
    const next = admit(
      start(),
      [1, 2, 3, 4, 5, 6].map((id) => request(id)),
      0,
      config,
    );
    expect(next.storage.requests.map((r) => r.id)).toEqual([4]);
    expect(next.skipped.map((r) => r.id)).toEqual([5, 6]);
  });

  it("bounds a batch to batchCountMax requests and parks the rest for the next batch (claim 9)", () => {
    const config = resolveConfig({ batchCountMax: 3 });
    const requests = Array.from({ length: 10 }, (_, i) => request(i + 1));
    const next = admit(start(), requests, 0, config);
    expect(next.batch.writes.map((w) => w.request.id)).toEqual([1, 2, 3]);
    expect(next.storage.requests.map((r) => r.id)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(next.refusal).toBe("maxCount");
  });

  it("bounds a batch to batchCountMax across several admissions", () => {
    const config = resolveConfig({ batchCountMax: 3 });
    const first = admit(start(), [request(1), request(2)], 0, config);
    const next = admit(first, [request(3), request(4)], 1, config);
    expect(next.batch.writes.map((w) => w.request.id)).toEqual([1, 2, 3]);
    expect(next.storage.requests.map((r) => r.id)).toEqual([4]);
  });

  it("takes at most batchCountMax parked requests into the next batch", () => {
    const config = resolveConfig({ batchCountMax: 3 });
    const first = admit(
      start(),
      Array.from({ length: 8 }, (_, i) => request(i + 1)),
      0,
      config,
    );
    const next = admitParked({ ...first, batch: emptyBatch(2 as BatchId) }, 1, config);
    expect(next.batch.writes.map((w) => [w.request.id, w.seq])).toEqual([
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    expect(next.storage.requests.map((r) => r.id)).toEqual([7, 8]);
  });

  it("bounds a batch to batchByteSizeMax record bytes and parks the rest (claim 8)", () => {
    // Two 1,064-byte records fit 2,500 bytes; a third would take the batch to 3,192.
    const config = resolveConfig({ batchByteSizeMax: 2500 });
    const next = admit(start(), [request(1), request(2), request(3)], 0, config);
    expect(next.batch.writes.map((w) => w.request.id)).toEqual([1, 2]);
    expect(next.batch.byteSize).toBe(2128);
    expect(next.storage.requests.map((r) => r.id)).toEqual([3]);
    expect(next.refusal).toBe("maxBytes");
  });

  it("writes a record larger than batchByteSizeMax alone in its batch", () => {
    const config = resolveConfig({ batchByteSizeMax: 1000 });
    const next = admit(start(), [request(1, 2000), request(2, 10)], 0, config);
    expect(next.batch.writes.map((w) => w.request.id)).toEqual([1]);
    expect(next.storage.requests.map((r) => r.id)).toEqual([2]);
  });

  it("takes parked requests into the next batch in arrival order (claims 16, 65)", () => {
    const config = { ...DEFAULT_CONFIG, maxPageSpan: 1 };
    const first = admit(
      start(),
      [1, 2, 3, 4, 5].map((id) => request(id)),
      0,
      config,
    );
    const next = admitParked({ ...first, batch: emptyBatch(2 as BatchId) }, 1, config);
    // Request 4 starts on page 0 and ends on page 1; request 5 would widen the span to 2 pages.
    expect(next.batch.writes.map((w) => [w.request.id, w.seq])).toEqual([[4, 4]]);
    expect(next.storage.requests.map((r) => r.id)).toEqual([5]);
    expect(next.refusal).toBe("pageOffset");
  });
});

describe("admit (properties)", () => {
  it("keeps every request exactly once, in order, and builds batches that are contiguous within the page span", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9000 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 20 }),
        (sizes, maxPageSpan, temporaryStorageCountMax) => {
          const config = resolveConfig({
            segmentByteSize: 64 * 1024,
            maxPageSpan,
            temporaryStorageCountMax,
          });
          const requests = sizes.map((size, i) => request(i + 1, size));
          const next = admit(start(), requests, 0, config);
          const batchIds = next.batch.writes.map((w) => w.request.id);
          const parkedIds = next.storage.requests.map((r) => r.id);
          const skippedIds = next.skipped.map((r) => r.id);
          expect([...batchIds, ...parkedIds, ...skippedIds]).toEqual(requests.map((r) => r.id));
          expect(next.batch.writes.map((w) => w.seq)).toEqual(batchIds.map((_, i) => i + 1));
          for (let i = 1; i < next.batch.writes.length; i++) {
            const previous = next.batch.writes[i - 1]!;
            expect(next.batch.writes[i]!.offset).toBe(previous.offset + previous.byteSize);
          }
          if (next.batch.writes.length > 1) {
            const first = Math.floor(next.batch.startOffset / 4096);
            const last = Math.floor((next.batch.endOffset - 1) / 4096);
            expect(last - first + 1).toBeLessThanOrEqual(maxPageSpan);
          }
          expect(parkedIds.length).toBeLessThanOrEqual(temporaryStorageCountMax);
        },
      ),
    );
  });
});

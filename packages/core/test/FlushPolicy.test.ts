import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addWrites,
  type BatchId,
  byteOffset,
  DEFAULT_CONFIG,
  decideFlush,
  emptyBatch,
  type FlushInput,
  type FlushReason,
  type RequestId,
  recordByteSize,
  type SpoolConfig,
  segmentNumber,
  seq,
  writerId,
} from "../src/index.js";

const allOff: SpoolConfig = {
  ...DEFAULT_CONFIG,
  sinceLastFlushMs: null,
  batchByteSizeMax: null,
  batchCountMax: null,
  gatherTimeMsMax: null,
  idleTimeMsMax: null,
  contiguousRunMin: null,
};

function batchOf(count: number, firstAtMs: number, lastAtMs: number) {
  let batch = emptyBatch(1 as BatchId);
  for (let i = 0; i < count; i++) {
    const size = recordByteSize(1024);
    const write = {
      request: {
        id: i as RequestId,
        writerId: writerId(1),
        senderId: writerId(1),
        payload: new Uint8Array(1024),
        durability: "flushed" as const,
      },
      seq: seq(i + 1),
      segment: segmentNumber(1),
      offset: byteOffset(i * size),
      byteSize: size,
    };
    batch = addWrites(batch, [write], i === 0 ? firstAtMs : lastAtMs);
  }
  return batch;
}

const input = (batch = batchOf(3, 100, 105)): FlushInput => ({
  batch,
  refusal: null,
  lastFlushAtMs: 0,
  closing: false,
});

describe("decideFlush", () => {
  it("never flushes an empty batch", () => {
    const decision = decideFlush(
      { ...input(), batch: emptyBatch(1 as BatchId), closing: true },
      1e9,
      DEFAULT_CONFIG,
    );
    expect(decision).toEqual({ flush: false, wakeInMs: null });
  });

  it.each<[FlushReason, Partial<SpoolConfig>, Partial<FlushInput>, number]>([
    ["maxCount", { batchCountMax: 3 }, {}, 105],
    ["maxBytes", { batchByteSizeMax: 3 * 1064 }, {}, 105],
    ["contiguousRun", { contiguousRunMin: 3 }, {}, 105],
    ["maxGatherTime", { gatherTimeMsMax: 10 }, {}, 110],
    ["maxIdleTime", { idleTimeMsMax: 5 }, {}, 110],
    ["sinceLastFlush", { sinceLastFlushMs: 50 }, { lastFlushAtMs: 60 }, 110],
    ["maxCount", { batchCountMax: 9 }, { refusal: "maxCount" }, 105],
    ["maxBytes", { batchByteSizeMax: 9 * 1064 }, { refusal: "maxBytes" }, 105],
    ["pageOffset", {}, { refusal: "pageOffset" }, 105],
    ["byteOffset", {}, { refusal: "byteOffset" }, 105],
    ["close", {}, { closing: true }, 105],
  ])("flushes for %s when that trigger holds", (reason, config, extra, nowMs) => {
    const decision = decideFlush({ ...input(), ...extra }, nowMs, { ...allOff, ...config });
    expect(decision).toEqual({ flush: true, reason });
  });

  it("flushes once sinceLastFlushMs has passed since the previous flush, not before", () => {
    const config = { ...allOff, sinceLastFlushMs: 50 };
    const since = { ...input(), lastFlushAtMs: 60 };
    expect(decideFlush(since, 109, config)).toEqual({ flush: false, wakeInMs: 1 });
    expect(decideFlush(since, 110, config)).toEqual({ flush: true, reason: "sinceLastFlush" });
  });

  it("flushes once the batch reaches batchByteSizeMax, not before", () => {
    const config = { ...allOff, batchByteSizeMax: 3 * recordByteSize(1024) };
    expect(decideFlush(input(batchOf(2, 100, 105)), 105, config)).toEqual({
      flush: false,
      wakeInMs: null,
    });
    expect(decideFlush(input(batchOf(3, 100, 105)), 105, config)).toEqual({
      flush: true,
      reason: "maxBytes",
    });
  });

  it("waits for the earliest timed trigger when none holds yet", () => {
    const config = { ...allOff, gatherTimeMsMax: 10, idleTimeMsMax: 3 };
    expect(decideFlush(input(), 106, config)).toEqual({ flush: false, wakeInMs: 2 });
  });

  it("waits for a request when every trigger is disabled", () => {
    expect(decideFlush(input(), 1e9, allOff)).toEqual({ flush: false, wakeInMs: null });
  });

  it("flushes at once with the default idle trigger of 0 ms", () => {
    expect(decideFlush(input(), 105, DEFAULT_CONFIG)).toEqual({
      flush: true,
      reason: "maxIdleTime",
    });
  });

  it("never wakes before a timed trigger, and fires once its time has come", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 2000 }),
        (limit, elapsed) => {
          const config = { ...allOff, gatherTimeMsMax: limit };
          const decision = decideFlush(input(batchOf(1, 0, 0)), elapsed, config);
          if (elapsed >= limit) expect(decision).toEqual({ flush: true, reason: "maxGatherTime" });
          else expect(decision).toEqual({ flush: false, wakeInMs: limit - elapsed });
        },
      ),
    );
  });
});

import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import {
  delegatingAdapter,
  fileAdapter,
  MemoryDisk,
  memoryAdapter,
  mmapAdapter,
} from "@spool/adapters";
import {
  ConfigInvalid,
  FlushFailed,
  RecordTooLarge,
  type RequestId,
  SpoolClosed,
  SpoolCorrupt,
  SpoolLocked,
  segmentNumber,
  writerId,
} from "@spool/core";
import { Effect } from "effect";
import { describe, expect, it, vi } from "vitest";
import { openSpool, type Spool, SpoolEffect, type WriterEndpoint } from "../src/index.js";
import { durableSeqs, spyAdapter, temporaryDirectory } from "./helpers.js";

const text = new TextDecoder();
const payloadOf = (writer: number, index: number) =>
  `writer ${writer} message ${index} `.repeat(1 + (index % 7));

async function readAll(dir: string, adapter = fileAdapter()) {
  const spool = await openSpool({ dir, adapter });
  const records: { seq: number; payload: string }[] = [];
  for await (const record of spool.records())
    records.push({ seq: record.seq, payload: text.decode(record.payload) });
  await spool.close();
  return { records, recovery: spool.recovery };
}

describe("openSpool with real files", () => {
  it.each([
    ["file", fileAdapter()],
    ["mmap with fdatasync", mmapAdapter({ flushMethod: "fdatasync" })],
    ["mmap with msync", mmapAdapter({ flushMethod: "msync" })],
  ])(
    "keeps every append of 256 concurrent writers byte-identical across close and reopen (%s)",
    async (_, adapter) => {
      const dir = temporaryDirectory();
      const spool = await openSpool({ dir, adapter, segmentByteSize: 1 << 20 });
      const writers = 256;
      const perWriter = 20;
      const acknowledged = new Map<number, string>();
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const writer = spool.writer(`w${w}`);
          for (let i = 0; i < perWriter; i++) {
            const payload = payloadOf(w, i);
            const { seq, durability } = await writer.append(payload);
            expect(durability).toBe("flushed");
            acknowledged.set(seq, payload);
          }
        }),
      );
      expect(spool.stats().records).toBe(writers * perWriter);
      await spool.close();
      const { records } = await readAll(dir, adapter);
      expect(records).toHaveLength(writers * perWriter);
      for (const [index, record] of records.entries()) {
        expect(record.seq).toBe(index + 1);
        expect(record.payload).toBe(acknowledged.get(record.seq));
      }
    },
  );

  it("rolls into new segments, mapping each one once, and reads across them", async () => {
    const dir = temporaryDirectory();
    const mapped: number[] = [];
    const adapter = spyAdapter(mmapAdapter(), { onMap: (segment) => mapped.push(segment) });
    const spool = await openSpool({ dir, adapter, segmentByteSize: 64 * 1024 });
    const writer = spool.writer();
    const large = (i: number) => payloadOf(1, i).padEnd(1000, ".");
    // 300 records of about 1 KiB: about 5 segments of 64 KiB.
    for (let i = 0; i < 300; i++) await writer.append(large(i));
    await spool.close();
    expect(mapped.length).toBeGreaterThan(3);
    expect(new Set(mapped).size).toBe(mapped.length);
    const { records } = await readAll(dir);
    expect(records.map((r) => r.payload)).toEqual(Array.from({ length: 300 }, (_, i) => large(i)));
  });

  it("cuts a torn tail off on reopen and continues the sequence after the last intact record", async () => {
    const dir = temporaryDirectory();
    const spool = await openSpool({ dir, segmentByteSize: 1 << 20 });
    const writer = spool.writer();
    for (let i = 0; i < 10; i++) await writer.append(`record ${i}`);
    await spool.close();
    const segment = path.join(dir, "data-0000000001.seg");
    const bytes = readFileSync(segment);
    // "record N" is 8 bytes, so each record is 40 + 8 = 48 bytes; flip a payload byte of the 10th.
    bytes[9 * 48 + 44]! ^= 0xff;
    writeFileSync(segment, bytes);
    const reopened = await openSpool({ dir });
    expect(reopened.recovery.tornTailTruncated).toBe(true);
    expect(reopened.recovery.recordsScanned).toBe(9);
    const { seq } = await reopened.writer().append("after the tear");
    expect(seq).toBe(10);
    await reopened.close();
    const { records } = await readAll(dir);
    expect(records.map((r) => r.payload)).toEqual([
      ...Array.from({ length: 9 }, (_, i) => `record ${i}`),
      "after the tear",
    ]);
  });

  it("refuses a directory whose manifest is not a spool's", async () => {
    const dir = temporaryDirectory();
    writeFileSync(path.join(dir, "spool.json"), "{ not json");
    await expect(openSpool({ dir })).rejects.toBeInstanceOf(SpoolCorrupt);
  });

  it("refuses to reopen a spool with a different segment size", async () => {
    const dir = temporaryDirectory();
    await (await openSpool({ dir, segmentByteSize: 1 << 20 })).close();
    await expect(openSpool({ dir, segmentByteSize: 2 << 20 })).rejects.toBeInstanceOf(
      ConfigInvalid,
    );
  });
});

describe("the durability promise", () => {
  it("resolves no append before the flush that covers its bytes", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({
      dir: "spy",
      adapter: memoryAdapter(disk),
      segmentByteSize: 1 << 20,
    });
    const violations: number[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        const writer = spool.writer();
        for (let i = 0; i < 25; i++) {
          const { seq } = await writer.append(payloadOf(w, i));
          if (!durableSeqs(disk).has(seq)) violations.push(seq);
        }
      }),
    );
    await spool.close();
    expect(violations).toEqual([]);
    expect(durableSeqs(disk.afterPowerCut()).size).toBe(16 * 25);
  });

  it("reports the level reached: async appends are written, flushed appends are flushed", async () => {
    const spool = await openSpool({ dir: "levels", adapter: memoryAdapter() });
    const writer = spool.writer();
    expect((await writer.append("a", { durability: "async" })).durability).toBe("async");
    expect((await writer.append("b")).durability).toBe("flushed");
    await spool.close();
  });

  it("gives every writer of a failed flush a FlushFailed, then refuses further appends", async () => {
    const eio = Object.assign(new Error("injected"), { code: "EIO" });
    let failing = false;
    const adapter = spyAdapter(memoryAdapter(), {
      onFlush: () => {
        if (failing)
          throw new FlushFailed({ file: "data", offset: 0, byteSize: 0, code: "EIO", cause: eio });
      },
    });
    const spool = await openSpool({ dir: "eio", adapter });
    const writer = spool.writer();
    await writer.append("before");
    failing = true;
    const failed = await Promise.allSettled([writer.append("x"), writer.append("y")]);
    for (const outcome of failed) {
      expect(outcome.status).toBe("rejected");
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(FlushFailed);
    }
    await expect(writer.append("after")).rejects.toBeInstanceOf(FlushFailed);
    await spool.close();
  });
});

describe("temporary storage and skipping", () => {
  it("parks requests that arrive while a batch is written and writes them next, in order", async () => {
    const spool = await openSpool({ dir: "park", adapter: memoryAdapter() });
    const writer = spool.writer();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => writer.append(`m${i}`)));
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await spool.close();
  });

  it("skips requests when temporary storage is full and writes them after a resend (claim 66)", async () => {
    const spool = await openSpool({
      dir: "skip",
      adapter: memoryAdapter(),
      maxPageSpan: 1,
      temporaryStorageCountMax: 2,
    });
    const writers = Array.from({ length: 8 }, () => spool.writer());
    const results = await Promise.all(
      writers.flatMap((writer, w) =>
        Array.from({ length: 10 }, (_, i) => writer.append(payloadOf(w, i))),
      ),
    );
    expect(new Set(results.map((r) => r.seq)).size).toBe(80);
    expect(spool.stats().skipped).toBeGreaterThan(0);
    const seqs: number[] = [];
    for await (const record of spool.records()) seqs.push(record.seq);
    expect(seqs).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    await spool.close();
  });
});

describe("writers", () => {
  it("does not let a writer that never confirms stall the synchronizer", async () => {
    const spool = await openSpool({
      dir: "vanish",
      adapter: memoryAdapter(),
      confirmTimeoutMs: 50,
    });
    const silent: WriterEndpoint = {
      id: writerId(999),
      written: () => {},
      resend: () => {},
      failed: () => {},
    };
    spool.synchronizer.register(silent);
    const request = {
      id: 1 as RequestId,
      writerId: writerId(999),
      senderId: writerId(999),
      payload: new Uint8Array([1]),
      durability: "flushed" as const,
    };
    spool.synchronizer.send([request], () => {});
    const writer = spool.writer();
    const results = await Promise.all([writer.append("one"), writer.append("two")]);
    expect(results).toHaveLength(2);
    // Marked slow at its batch's deadline, the silent writer's confirmation is owed; it is
    // counted failed once confirmTimeoutMs passed, as before.
    await vi.waitFor(() => expect(spool.stats().confirmationsFailed).toBe(1), {
      timeout: 30_000,
      interval: 5,
    });
    expect(spool.stats().writersMarkedSlow).toBe(1);
    expect(spool.stats().slowWriters).toBe(0);
    await spool.close();
  });

  it("rejects an oversize payload with RecordTooLarge", async () => {
    const spool = await openSpool({
      dir: "big",
      adapter: memoryAdapter(),
      recordPayloadByteSizeMax: 16,
    });
    await expect(spool.writer().append(new Uint8Array(17))).rejects.toBeInstanceOf(RecordTooLarge);
    await spool.close();
  });

  it("closes idempotently and refuses appends afterwards with SpoolClosed", async () => {
    const spool = await openSpool({ dir: "close", adapter: memoryAdapter() });
    const writer = spool.writer();
    const pending = writer.append("drained on close");
    await Promise.all([spool.close(), spool.close()]);
    expect((await pending).seq).toBe(1);
    await expect(writer.append("late")).rejects.toBeInstanceOf(SpoolClosed);
  });

  it("rejects bad options with ConfigInvalid naming the field", async () => {
    await expect(
      openSpool({ dir: "bad", adapter: memoryAdapter(), batchCountMax: -3 }),
    ).rejects.toMatchObject({
      _tag: "ConfigInvalid",
      field: "batchCountMax",
    });
  });
});

describe("flush triggers and batch bounds", () => {
  it("refuses to open with every timed flush trigger disabled, naming one with ConfigInvalid", async () => {
    const options = { idleTimeMsMax: null, gatherTimeMsMax: null, sinceLastFlushMs: null };
    await expect(
      openSpool({ dir: "untimed", adapter: memoryAdapter(), ...options }),
    ).rejects.toMatchObject({ _tag: "ConfigInvalid", field: "idleTimeMsMax" });
  });

  it("flushes a lone append when sinceLastFlushMs is the only timed trigger", async () => {
    const options = { idleTimeMsMax: null, gatherTimeMsMax: null, sinceLastFlushMs: 5 };
    const spool = await openSpool({ dir: "since", adapter: memoryAdapter(), ...options });
    expect((await spool.writer().append("alone")).durability).toBe("flushed");
    expect(spool.stats().flushReasons.sinceLastFlush).toBe(1);
    await spool.close();
  });

  it("writes no batch of more than batchCountMax requests, the rest in later batches", async () => {
    const spool = await openSpool({ dir: "bounded", adapter: memoryAdapter(), batchCountMax: 3 });
    const sizes: number[] = [];
    spool.onBatch((batch) => sizes.push(batch.records));
    const writer = spool.writer();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => writer.append(`m${i}`)));
    expect(results.map((result) => result.seq)).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(spool.stats().batchRecordsMax).toBeLessThanOrEqual(3);
    await spool.close();
  });
});

describe("SpoolEffect", () => {
  it("opens a scoped spool, appends, and closes it with the scope", async () => {
    const disk = new MemoryDisk();
    const program = Effect.scoped(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.open({ dir: "effect", adapter: memoryAdapter(disk) });
        return yield* SpoolEffect.append(spool.writer(), "from effect");
      }),
    );
    const result = await Effect.runPromise(program);
    expect(result.seq).toBe(1);
    expect(durableSeqs(disk).has(1)).toBe(true);
  });
});

describe("found in review", () => {
  it("continues in the next segment when the last one is full and the next was never created", async () => {
    const disk = new MemoryDisk();
    const options = { dir: "full", adapter: memoryAdapter(disk), segmentByteSize: 4096 };
    const first = await openSpool(options);
    const writer = first.writer();
    // Two 2048-byte records fill a 4 KiB segment exactly.
    await writer.append(new Uint8Array(2008).fill(7));
    await writer.append(new Uint8Array(2008).fill(8));
    await first.close();
    disk.written.delete(segmentNumber(2));
    disk.durable.delete(segmentNumber(2));
    const second = await openSpool(options);
    expect((await second.writer().append(new Uint8Array(2008).fill(9))).seq).toBe(3);
    await second.close();
    const third = await openSpool(options);
    const firstBytes: number[] = [];
    for await (const record of third.records()) firstBytes.push(record.payload[0]!);
    await third.close();
    expect(firstBytes).toEqual([7, 8, 9]);
  });

  it("zeroes stale records behind a torn batch whose first header never reached the disk", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({
      dir: "torn",
      adapter: memoryAdapter(disk),
      segmentByteSize: 1 << 16,
    });
    const writer = spool.writer();
    const record = (byte: number) => new Uint8Array(88).fill(byte); // 128 bytes on disk
    await writer.append(record(1));
    await Promise.all([2, 3, 4, 5, 6].map((byte) => writer.append(record(byte))));
    await spool.close();
    disk.durable.get(segmentNumber(1))!.fill(0, 128, 168); // record 2's header lost
    const survivor = disk.afterPowerCut();
    const reopened = await openSpool({
      dir: "torn",
      adapter: memoryAdapter(survivor),
      segmentByteSize: 1 << 16,
    });
    expect(reopened.recovery.tornTailTruncated).toBe(true);
    await reopened.writer().append(record(22));
    await reopened.writer().append(record(33));
    await reopened.close();
    const again = await openSpool({
      dir: "torn",
      adapter: memoryAdapter(survivor),
      segmentByteSize: 1 << 16,
    });
    const bytes: number[] = [];
    for await (const read of again.records()) bytes.push(read.payload[0]!);
    await again.close();
    expect(bytes).toEqual([1, 22, 33]);
  });

  /** One small append, then 90, 50 and 5 bytes in one tick against 100 bytes of storage. */
  async function skipBehindLargerOne(dir: string) {
    const spool = await openSpool({
      dir,
      adapter: memoryAdapter(),
      temporaryStorageByteSizeMax: 100,
      // Requests that arrive during a write are parked (and skipped when storage is full)
      // only with one batch on the disk at a time.
      pipelineSplitByteSize: null,
    });
    const writer = spool.writer();
    const first = writer.append(new Uint8Array(10));
    for (let i = 0; i < 4; i++) await null;
    const rest = [90, 50, 5].map((size) => writer.append(new Uint8Array(size)));
    return { spool, first, rest };
  }

  it("keeps one writer's appends in order when a larger one is skipped and a smaller one would fit", async () => {
    const { spool, first, rest } = await skipBehindLargerOne("order");
    const seqs = (await Promise.all(rest)).map((result) => result.seq);
    expect((await first).seq).toBe(1);
    expect(seqs).toEqual([2, 3, 4]);
    expect(spool.stats().skipped).toBeGreaterThan(0);
    await spool.close();
  });

  it("writes skipped requests on close instead of refusing them", async () => {
    const { spool, first, rest } = await skipBehindLargerOne("close-skip");
    const closing = spool.close();
    expect((await Promise.all([first, ...rest])).map((result) => result.seq)).toEqual([1, 2, 3, 4]);
    await closing;
    expect(spool.stats().skipped).toBeGreaterThan(0);
  });

  it("fails, never strands, an append received just before a flush failed", async () => {
    let failNext: ((error: unknown) => void) | undefined;
    const adapter = spyAdapter(memoryAdapter(), {
      onFlush: () =>
        failNext === undefined
          ? undefined
          : new Promise<void>((_, reject) => {
              failNext = reject;
            }),
    });
    const spool = await openSpool({ dir: "strand", adapter });
    const writer = spool.writer();
    await writer.append("ok");
    failNext = () => {};
    const inFlight = writer.append("in flight").catch((error: { _tag: string }) => error._tag);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const late = writer.append("late").catch((error: { _tag: string }) => error._tag);
    failNext(new FlushFailed({ file: "f", offset: 0, byteSize: 0, code: "EIO", cause: undefined }));
    expect(await inFlight).toBe("FlushFailed");
    expect(await late).toBe("FlushFailed");
    await spool.close();
  });
});

describe("mmap with msync and a configured page smaller than the system's", () => {
  it("aligns msync to the system page and flushes", async () => {
    const dir = temporaryDirectory();
    const spool = await openSpool({
      dir,
      adapter: mmapAdapter({ flushMethod: "msync" }),
      segmentByteSize: 1 << 20,
      pageByteSize: 512,
    });
    const writer = spool.writer();
    await writer.append(new Uint8Array(600));
    expect((await writer.append(new Uint8Array(10))).seq).toBe(2);
    await spool.close();
  });
});

describe("one spool per directory", () => {
  it("refuses a second open of a directory while it is open, and opens it again after close", async () => {
    const dir = temporaryDirectory();
    const first = await openSpool({ dir });
    await expect(openSpool({ dir })).rejects.toBeInstanceOf(SpoolLocked);
    await first.close();
    const second = await openSpool({ dir });
    await second.close();
  });

  it("takes over a lock left by a process that no longer runs", async () => {
    const dir = temporaryDirectory();
    await (await openSpool({ dir })).close();
    // A pid far above any the kernel hands out here (pid_max is at most 4194304).
    writeFileSync(path.join(dir, "LOCK"), "4194999\n");
    const spool = await openSpool({ dir });
    await spool.close();
  });
});

describe("pipelining: two batches on the disk", () => {
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  /** 64 appends of 500 bytes made at once, each acknowledged with its seq in order. */
  async function appendAtOnce(spool: Spool): Promise<string[]> {
    const writer = spool.writer();
    const payloads = Array.from({ length: 64 }, (_, at) => `m${at}-`.padEnd(500, "x"));
    const results = await Promise.all(payloads.map((payload) => writer.append(payload)));
    expect(results.map((result) => result.seq)).toEqual(payloads.map((_, at) => at + 1));
    return payloads;
  }

  it("splits a batch, writes the second half beside the first, and confirms every append in order", async () => {
    const spool = await openSpool({
      dir: "pipelined",
      adapter: memoryAdapter(),
      pipelineSplitByteSize: 4096,
    });
    const payloads = await appendAtOnce(spool);
    expect(spool.stats().splits).toBeGreaterThan(0);
    expect(spool.stats().writtenAhead).toBeGreaterThan(0);
    const read: string[] = [];
    for await (const record of spool.records()) read.push(decode(record.payload));
    expect(read).toEqual(payloads);
    await spool.close();
  });

  it("splits a batch and writes the halves beside each other through the mmap adapter's map", async () => {
    const dir = temporaryDirectory();
    const spool = await openSpool({
      dir,
      adapter: mmapAdapter(),
      segmentByteSize: 1 << 20,
      pipelineSplitByteSize: 4096,
    });
    const payloads = await appendAtOnce(spool);
    expect(spool.stats().splits).toBeGreaterThan(0);
    expect(spool.stats().writtenAhead).toBeGreaterThan(0);
    await spool.close();
    const reopened = await openSpool({ dir, adapter: mmapAdapter(), segmentByteSize: 1 << 20 });
    const read: string[] = [];
    for await (const record of reopened.records()) read.push(decode(record.payload));
    expect(read).toEqual(payloads);
    await reopened.close();
  });

  it("keeps one batch on the disk for an adapter that refuses pipelining", async () => {
    const inner = memoryAdapter();
    const spool = await openSpool({
      dir: "one-at-a-time",
      adapter: async (options) => delegatingAdapter(await inner(options), { pipelining: false }),
      pipelineSplitByteSize: 4096,
    });
    await appendAtOnce(spool);
    expect(spool.stats().splits).toBe(0);
    expect(spool.stats().writtenAhead).toBe(0);
    await spool.close();
  });

  it("runs one flush at a time unless the adapter answers for two at once", async () => {
    for (const concurrent of [false, true]) {
      const inner = memoryAdapter();
      let running = 0;
      let most = 0;
      const spool = await openSpool({
        dir: `flushes-${concurrent}`,
        adapter: async (options) => {
          const adapter = await inner(options);
          return delegatingAdapter(adapter, {
            concurrentFlushes: concurrent,
            flush: async (region, mode) => {
              running += 1;
              most = Math.max(most, running);
              await new Promise((resolve) => setTimeout(resolve, 2));
              await adapter.flush(region, mode);
              running -= 1;
            },
          });
        },
        pipelineSplitByteSize: 4096,
      });
      await appendAtOnce(spool);
      expect(spool.stats().writtenAhead).toBeGreaterThan(0);
      expect(most).toBe(concurrent ? 2 : 1);
      await spool.close();
    }
  });

  it("writes large batches through libuv's pool beside each other, intact after reopening", async () => {
    const dir = temporaryDirectory();
    // Two 300 KiB records, split: the first half is past the size the file adapter writes on
    // the main thread, so its copy runs in the pool while two smaller ones join the second
    // half, which then fits the same staging buffer. (The machine tests check that the second
    // half waits for the first's bytes to be handed over; a race on the buffer is too rare to
    // catch here.)
    const sizes = { a: 300, b: 300, c: 60, d: 60 };
    const payloads = Object.entries(sizes).map(([fill, kib]) => "".padEnd(kib * 1024, fill));
    const first = await openSpool({ dir, adapter: fileAdapter() });
    const writer = first.writer();
    // Mapped first, so the appends below meet a batch being written, not a segment mapped.
    await writer.append("first");
    const early = payloads.slice(0, 2).map((payload) => writer.append(payload));
    // The first half's copy is in the pool now; these arrive while it runs.
    for (let turn = 0; turn < 8; turn++) await null;
    const late = payloads.slice(2).map((payload) => writer.append(payload));
    await Promise.all([...early, ...late]);
    expect(first.stats().writtenAhead).toBeGreaterThan(0);
    await first.close();
    const again = await openSpool({ dir, adapter: fileAdapter() });
    const read: string[] = [];
    for await (const record of again.records()) read.push(decode(record.payload));
    expect(read).toEqual(["first", ...payloads]);
    await again.close();
  });
});

describe("blocking flushes (file adapter option)", () => {
  it("keep every acknowledged append and leave the event loop its timers while appenders never pause", async () => {
    const dir = temporaryDirectory();
    const spool = await openSpool({
      dir,
      adapter: fileAdapter({ blockingFlushByteSizeMax: 64 * 1024 }),
    });
    // Each appender appends again as soon as it is confirmed. A flush that settled at once
    // would chain batch after batch in microtasks: a 1 ms timer armed once appends flow would
    // fire only after every appender reached the cap.
    const cap = 1500;
    let armed = false;
    let timerFired = false;
    let appendsWhenFired = 0;
    let appends = 0;
    const acked: number[] = [];
    const appender = async () => {
      const writer = spool.writer();
      for (let n = 0; n < cap && !timerFired; n++) {
        acked.push((await writer.append(`message ${n}`)).seq);
        appends += 1;
        if (appends === 100 && !armed) {
          armed = true;
          setTimeout(() => {
            timerFired = true;
            appendsWhenFired = appends;
          }, 1);
        }
      }
    };
    await Promise.all([appender(), appender(), appender(), appender()]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(timerFired).toBe(true);
    expect(appendsWhenFired).toBeLessThan(4 * cap);
    await spool.close();
    const kept = (await readAll(dir)).records.map((record) => record.seq);
    expect(kept).toEqual(acked.sort((a, b) => a - b));
  });
});

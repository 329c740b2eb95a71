import { readdirSync, rmSync } from "node:fs";
import * as path from "node:path";
import { delegatingAdapter, fileAdapter, MemoryDisk, memoryAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  decodeIndexEntry,
  INDEX_ENTRY_BYTE_SIZE,
  InvalidArgument,
  NotLeased,
  SpoolFull,
  segmentNumber,
} from "@spool/core";
import { describe, expect, it } from "vitest";
import { openSpool, type Spool } from "../src/index.js";
import { ANSWERS_IN_FLIGHT_PER_HANDLER } from "../src/spool/Consumer.js";
import { temporaryDirectory } from "./helpers.js";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A clock a test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function appendAll(spool: Spool, messages: readonly string[]): Promise<void> {
  const writer = spool.writer();
  await Promise.all(messages.map((message) => writer.append(message)));
}

describe("consumers: take, ack, nack, dead letters", () => {
  it("hands out durable messages FIFO by seq, each once while leased, and acks them durably", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({ dir: "q", adapter: memoryAdapter(disk) });
    await appendAll(spool, ["a", "b", "c"]);
    const leases = [await spool.take(), await spool.take(), await spool.take()];
    expect(leases.map((lease) => [lease?.seq, text(lease!.payload), lease?.attempt])).toEqual([
      [1, "a", 1],
      [2, "b", 1],
      [3, "c", 1],
    ]);
    expect(await spool.take()).toBeUndefined();
    await spool.ack(2);
    // The ack resolved: its entry is in what a power cut keeps.
    const slot = disk.index().durable.get(segmentNumber(1))!;
    const entry = decodeIndexEntry(slot, INDEX_ENTRY_BYTE_SIZE);
    expect(entry.ok && [entry.entry.index.seq, entry.entry.info.state]).toEqual([2, "done"]);
    await expect(spool.ack(2)).rejects.toBeInstanceOf(NotLeased);
    expect(spool.depth()).toBe(2);
    await spool.close();
  });

  it("takes several messages at once, oldest first, and no more than are ready", async () => {
    const spool = await openSpool({ dir: "q", adapter: memoryAdapter() });
    await appendAll(spool, ["a", "b", "c"]);
    const first = await spool.takeMany(2);
    expect(first.map((lease) => [lease.seq, text(lease.payload)])).toEqual([
      [1, "a"],
      [2, "b"],
    ]);
    expect((await spool.takeMany(5)).map((lease) => lease.seq)).toEqual([3]);
    expect(await spool.takeMany(5)).toEqual([]);
    await expect(spool.takeMany(0)).rejects.toBeInstanceOf(InvalidArgument);
    await spool.close();
  });

  it("returns an expired lease to the queue and honours retry delays", async () => {
    const clock = manualClock();
    const spool = await openSpool({ dir: "q", adapter: memoryAdapter(), clock: clock.now });
    await appendAll(spool, ["a", "b"]);
    const first = await spool.take({ leaseMs: 100 });
    expect(first?.seq).toBe(1);
    await spool.nack(first!.seq, { retryAfterMs: 50 });
    expect((await spool.take())?.seq).toBe(2);
    expect(await spool.take()).toBeUndefined();
    clock.advance(50);
    const retried = await spool.take({ leaseMs: 100 });
    expect([retried?.seq, retried?.attempt]).toEqual([1, 2]);
    clock.advance(100);
    // Both leases expired: ready again, lowest seq first.
    expect((await spool.take())?.seq).toBe(1);
    await spool.close();
  });

  it("dead-letters a message after maxAttempts deliveries and keeps it out of the queue", async () => {
    const spool = await openSpool({ dir: "q", adapter: memoryAdapter(), maxAttempts: 2 });
    await appendAll(spool, ["poison"]);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const lease = await spool.take();
      expect(lease?.attempt).toBe(attempt);
      await spool.nack(lease!.seq);
    }
    expect(await spool.take()).toBeUndefined();
    const letters = await spool.deadLetters();
    expect(letters.map((letter) => [letter.seq, text(letter.payload), letter.attempts])).toEqual([
      [1, "poison", 2],
    ]);
    expect(spool.depth()).toBe(0);
    await spool.purgeDeadLetter(1);
    expect(await spool.deadLetters()).toEqual([]);
    await expect(spool.purgeDeadLetter(1)).rejects.toBeInstanceOf(NotLeased);
    await spool.close();
  });

  it("consume runs handlers with the given concurrency, acking successes and retrying failures", async () => {
    const spool = await openSpool({ dir: "q", adapter: memoryAdapter() });
    await appendAll(
      spool,
      Array.from({ length: 40 }, (_, i) => `m${i + 1}`),
    );
    const seen = new Map<number, number>();
    let running = 0;
    let peak = 0;
    const consumer = spool.consume(
      async ({ seq, attempt }) => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 1));
        running -= 1;
        seen.set(seq, attempt);
        if (seq % 10 === 0 && attempt === 1) throw new Error("transient");
      },
      { concurrency: 4 },
    );
    while (spool.depth() > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await consumer.stop();
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    expect([10, 20, 30, 40].map((seq) => seen.get(seq))).toEqual([2, 2, 2, 2]);
    await spool.close();
  });

  it("consume frees a handler's slot before its ack is durable, and stop waits for the acks", async () => {
    // The index's flushes wait for `release`: acks are made but not durable until then.
    let release = (): void => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = false;
    const gated: AdapterFactory = async (options) => {
      const inner = await memoryAdapter()(options);
      if (options.fileKind !== "index") return inner;
      return delegatingAdapter(inner, {
        flush: async (region, mode) => {
          if (holding) await released;
          await inner.flush(region, mode);
        },
      });
    };
    const spool = await openSpool({ dir: "q", adapter: gated });
    await appendAll(
      spool,
      Array.from({ length: 12 }, (_, i) => `m${i + 1}`),
    );
    holding = true;
    const seen: number[] = [];
    let inFlightMax = 0;
    let secondRan = (): void => {};
    const secondRunning = new Promise<void>((resolve) => {
      secondRan = resolve;
    });
    const consumer = spool.consume(
      ({ seq }) => {
        seen.push(seq);
        // Handlers that ran minus acks made durable: the answers waiting, this one aside.
        inFlightMax = Math.max(inFlightMax, seen.length - 1 - spool.stats().acks);
        if (seen.length === 2) secondRan();
      },
      { concurrency: 1 },
    );
    // With one handler, a second message is handled while the first's ack waits for its flush.
    await secondRunning;
    expect(spool.stats().acks).toBe(0);
    release();
    const stopping = consumer.stop();
    await stopping;
    // stop resolved: every answer made is durable.
    expect(spool.stats().acks).toBe(seen.length);
    expect(inFlightMax).toBeLessThanOrEqual(ANSWERS_IN_FLIGHT_PER_HANDLER);
    expect(inFlightMax).toBeGreaterThanOrEqual(1);
    await spool.close();
  });

  it("takes a fresh message at the tail without reading its segment; a retry reads it", async () => {
    let dataReads = 0;
    const counting: AdapterFactory = async (options) => {
      const inner = await memoryAdapter()(options);
      if (options.fileKind === "index") return inner;
      return delegatingAdapter(inner, {
        read: (segment, offset, size) => {
          dataReads += 1;
          return inner.read(segment, offset, size);
        },
      });
    };
    const spool = await openSpool({ dir: "q", adapter: counting });
    // Before any take the spool keeps no copies: this one is read from its segment.
    await appendAll(spool, ["before"]);
    expect(text((await spool.take())!.payload)).toBe("before");
    const readsBefore = dataReads;
    expect(readsBefore).toBeGreaterThan(0);
    await appendAll(spool, ["fresh"]);
    const fresh = (await spool.take())!;
    expect([text(fresh.payload), dataReads]).toEqual(["fresh", readsBefore]);
    // The handler scribbles on its payload and gives it back: the retry reads the stored bytes.
    fresh.payload.fill(0x21);
    await spool.nack(fresh.seq);
    const retry = (await spool.take())!;
    expect([retry.seq, retry.attempt, text(retry.payload)]).toEqual([fresh.seq, 2, "fresh"]);
    expect(dataReads).toBeGreaterThan(readsBefore);
    await spool.close();
  });

  it("consume asks a retry delay of its function, per attempt and error (backoff)", async () => {
    const clock = manualClock();
    const spool = await openSpool({
      dir: "q",
      adapter: memoryAdapter(),
      clock: clock.now,
      maxAttempts: 3,
    });
    await appendAll(spool, ["flaky"]);
    const asked: [number, string][] = [];
    const consumer = spool.consume(
      async () => {
        throw new Error("recipient down");
      },
      {
        pollMs: 1,
        retryAfterMs: (lease, error) => {
          asked.push([lease.attempt, (error as Error).message]);
          return 1000 * 2 ** (lease.attempt - 1);
        },
      },
    );
    while (asked.length < 1) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(spool.messageState(1)).toBe("retryWait");
    clock.advance(999);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(asked.length).toBe(1);
    clock.advance(1);
    while (asked.length < 2) await new Promise((resolve) => setTimeout(resolve, 2));
    clock.advance(2000);
    while (spool.messageState(1) !== "dead") await new Promise((resolve) => setTimeout(resolve, 2));
    await consumer.stop();
    expect(asked).toEqual([
      [1, "recipient down"],
      [2, "recipient down"],
      [3, "recipient down"],
    ]);
    await spool.close();
  });
});

describe("a message's state by seq", () => {
  it("follows a message from queued to done, retried and dead, and holds across a reopen", async () => {
    const disk = new MemoryDisk();
    const options = { dir: "states", adapter: memoryAdapter(disk), maxAttempts: 1 } as const;
    const spool = await openSpool(options);
    expect(spool.messageState(1)).toBe("unknown");
    await appendAll(spool, ["one", "two", "three", "four"]);
    expect([1, 2, 3, 4].map((n) => spool.messageState(n))).toEqual([
      "queued",
      "queued",
      "queued",
      "queued",
    ]);
    const first = (await spool.take())!;
    expect(spool.messageState(first.seq)).toBe("leased");
    await spool.ack(first.seq);
    expect(spool.messageState(first.seq)).toBe("done");
    const second = (await spool.take())!;
    await spool.nack(second.seq);
    expect(spool.messageState(second.seq)).toBe("dead");
    const third = (await spool.take())!;
    expect(spool.messageState(third.seq)).toBe("leased");
    // A seq no message has yet is unknown; one that is no seq at all (0, -1, 1.5) is an
    // InvalidArgument (test/Arguments.test.ts).
    expect(spool.messageState(5)).toBe("unknown");
    await spool.close();
    const reopened = await openSpool(options);
    // The lease held at the stop comes back queued (at-least-once).
    expect([1, 2, 3, 4, 5].map((n) => reopened.messageState(n))).toEqual([
      "done",
      "dead",
      "queued",
      "queued",
      "unknown",
    ]);
    await reopened.close();
  });

  it("stats count messages by state, and every batch is reported once, with its flush reason", async () => {
    const spool = await openSpool({ dir: "counts", adapter: memoryAdapter(), maxAttempts: 1 });
    const reports: { records: number; reason: string }[] = [];
    const stop = spool.onBatch(({ records, reason }) => reports.push({ records, reason }));
    await appendAll(spool, ["a", "b", "c", "d"]);
    await spool.ack((await spool.take())!.seq);
    await spool.nack((await spool.take())!.seq);
    await spool.take();
    expect(spool.stats().messages).toEqual({ queued: 1, leased: 1, retryWait: 0, dead: 1 });
    const appended = reports.reduce((sum, report) => sum + report.records, 0);
    expect(appended).toBe(4);
    for (const report of reports) expect(report.reason).toMatch(/^[a-zA-Z]+$/);
    expect(spool.recentBatches().map(({ records }) => records)).toEqual(
      reports.map(({ records }) => records),
    );
    stop();
    await appendAll(spool, ["e"]);
    expect(reports.reduce((sum, report) => sum + report.records, 0)).toBe(4);
    expect(spool.recentBatches().at(-1)?.records).toBe(1);
    await spool.close();
  });

  it("a retried message waits in retryWait", async () => {
    const spool = await openSpool({ dir: "retry", adapter: memoryAdapter(new MemoryDisk()) });
    await appendAll(spool, ["again"]);
    const lease = (await spool.take())!;
    await spool.nack(lease.seq, { retryAfterMs: 60_000 });
    expect(spool.messageState(lease.seq)).toBe("retryWait");
    await spool.close();
  });
});

describe("restoring queue processing state on open (claims 59, 61)", () => {
  it("keeps done messages done, returns leases held at a stop, keeps retries and dead letters", async () => {
    const disk = new MemoryDisk();
    const options = { dir: "q", adapter: memoryAdapter(disk), maxAttempts: 2 } as const;
    const spool = await openSpool(options);
    await appendAll(spool, ["done", "leased", "dead", "queued"]);
    await spool.ack((await spool.take())!.seq);
    await spool.take();
    await spool.nack((await spool.take())!.seq);
    await spool.nack((await spool.take())!.seq);
    // A power cut now: only flushed bytes survive.
    const survivor = disk.afterPowerCut();
    await spool.close();
    const reopened = await openSpool({ ...options, adapter: memoryAdapter(survivor) });
    // Message 2's lease was its first in the open it was appended in: not written, so it comes
    // back queued with that attempt uncounted (the README's "Attempts are counted across crashes").
    expect(reopened.recovery).toMatchObject({
      recordsScanned: 4,
      leasesReturned: 0,
      entriesRebuilt: 0,
      entriesMissing: 2,
      messages: { queued: 2, retryWait: 0, dead: 1 },
    });
    const again = await reopened.take();
    expect([again?.seq, again?.attempt]).toEqual([2, 1]);
    expect((await reopened.take())?.seq).toBe(4);
    expect(await reopened.take()).toBeUndefined();
    expect((await reopened.deadLetters()).map((letter) => letter.seq)).toEqual([3]);
    // A second power cut: message 2 was restored at this open, so its lease was written before
    // it was handed out, and now it comes back with that attempt counted.
    const second = survivor.afterPowerCut();
    await reopened.close();
    const third = await openSpool({ ...options, adapter: memoryAdapter(second) });
    expect(third.recovery).toMatchObject({ leasesReturned: 2, messages: { dead: 1 } });
    const leases = [await third.take(), await third.take()];
    expect(leases.map((lease) => [lease?.seq, lease?.attempt])).toEqual([
      [2, 2],
      [4, 2],
    ]);
    await third.close();
  });

  it("rebuilds the whole queue from the data records when the index file is gone", async () => {
    const dir = temporaryDirectory();
    const spool = await openSpool({ dir, adapter: fileAdapter() });
    await appendAll(spool, ["a", "b", "c"]);
    await spool.ack((await spool.take())!.seq);
    await spool.close();
    rmSync(path.join(dir, "index-0000000001.idx"));
    const reopened = await openSpool({ dir, adapter: fileAdapter() });
    // The ack lived only in the index: without it the message is delivered again, never lost.
    expect(reopened.recovery).toMatchObject({ entriesMissing: 3, entriesRebuilt: 0 });
    const seqs = [];
    for (let lease = await reopened.take(); lease; lease = await reopened.take()) {
      seqs.push(lease.seq);
    }
    expect(seqs).toEqual([1, 2, 3]);
    await reopened.close();
  });

  it("zeroes entries whose record is gone, so a new append in the same place starts queued", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({ dir: "q", adapter: memoryAdapter(disk) });
    await appendAll(spool, ["a", "b", "c"]);
    for (let i = 0; i < 3; i++) await spool.ack((await spool.take())!.seq);
    await spool.close();
    // The data file loses its last record, 48 bytes at 96 (a disk fault: Spool itself never
    // writes an entry before its record is durable).
    const survivor = disk.afterPowerCut();
    const data = survivor.durable.get(segmentNumber(1))!;
    data.fill(0, 96, 144);
    survivor.written.get(segmentNumber(1))!.fill(0, 96, 144);
    const reopened = await openSpool({ dir: "q", adapter: memoryAdapter(survivor) });
    expect(reopened.recovery).toMatchObject({ recordsScanned: 2, entriesOrphaned: 1 });
    const { seq } = await reopened.writer().append("c");
    expect(seq).toBe(3);
    await reopened.close();
    // The new record lies exactly where the lost one did; the old "done" entry must not apply.
    const again = await openSpool({ dir: "q", adapter: memoryAdapter(survivor) });
    expect(again.recovery).toMatchObject({ recordsScanned: 3, entriesOrphaned: 0 });
    expect((await again.take())?.seq).toBe(3);
    await again.close();
  });

  it("rebuilds garbled index entries from their records and reports them", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({ dir: "q", adapter: memoryAdapter(disk) });
    await appendAll(spool, ["a", "b"]);
    await spool.ack((await spool.take())!.seq);
    await spool.ack((await spool.take())!.seq);
    await spool.close();
    // Flip a byte in the first entry, point the second at another record.
    const index = disk.index().durable.get(segmentNumber(1))!;
    index[20] = (index[20] ?? 0) ^ 0xff;
    index[INDEX_ENTRY_BYTE_SIZE + 12] = (index[INDEX_ENTRY_BYTE_SIZE + 12] ?? 0) ^ 0x08;
    const reopened = await openSpool({ dir: "q", adapter: memoryAdapter(disk.afterPowerCut()) });
    expect(reopened.recovery).toMatchObject({ entriesRebuilt: 2, messages: { queued: 2 } });
    expect((await reopened.take())?.seq).toBe(1);
    await reopened.close();
  });
});

describe("segments", () => {
  it("reclaims data and index segments once all their messages are done, and reopens from what is left", async () => {
    const dir = temporaryDirectory();
    const options = { dir, segmentByteSize: 8192, indexSegmentEntries: 64 };
    const spool = await openSpool(options);
    const messages = Array.from({ length: 150 }, (_, i) => `message ${i + 1}`.padEnd(1000, "."));
    // Consumers keep up: ten at a time appended, then taken and acked.
    for (let from = 0; from < messages.length; from += 10) {
      await appendAll(spool, messages.slice(from, from + 10));
      for (let lease = await spool.take(); lease; lease = await spool.take()) {
        await spool.ack(lease.seq);
      }
    }
    await spool.close();
    const files = readdirSync(dir);
    const data = files.filter((name) => name.startsWith("data-"));
    const recycled = files.filter((name) => name.startsWith("recycled-"));
    const index = files.filter((name) => name.endsWith(".idx"));
    // 150 records of 1040 bytes, 7 to a segment: 22 segments written, only the tail kept, and
    // at most two reclaimed ones waiting to be recycled.
    expect(data.length).toBeLessThanOrEqual(2);
    expect(recycled.length).toBeLessThanOrEqual(2);
    expect(index).not.toContain("index-0000000001.idx");
    expect(spool.stats().segmentsReclaimed).toBeGreaterThanOrEqual(20);
    // Reclaimed segments became later ones: only the first few were zero-filled.
    expect(spool.stats().segmentsRecycled).toBeGreaterThanOrEqual(15);
    const reopened = await openSpool(options);
    expect(reopened.recovery.recordsScanned).toBeLessThan(8);
    expect(reopened.depth()).toBe(0);
    const { seq } = await reopened.writer().append("after");
    expect(seq).toBe(151);
    expect(text((await reopened.take())!.payload)).toBe("after");
    await reopened.close();
  });

  it("rejects appends with SpoolFull at the disk budget, and takes them again once consumers free segments", async () => {
    const dir = temporaryDirectory();
    const spool = await openSpool({ dir, segmentByteSize: 8192, diskBudgetBytes: 3 * 8192 });
    const writer = spool.writer();
    const payload = "x".repeat(1000);
    let accepted = 0;
    let full: unknown;
    for (let i = 0; i < 100 && full === undefined; i++) {
      try {
        await writer.append(payload);
        accepted += 1;
      } catch (error) {
        full = error;
      }
    }
    expect(full).toBeInstanceOf(SpoolFull);
    // Three segments of seven 1040-byte records, give or take the last one's rounding.
    expect(accepted).toBeGreaterThanOrEqual(14);
    expect(accepted).toBeLessThanOrEqual(21);
    for (let lease = await spool.take(); lease; lease = await spool.take()) {
      await spool.ack(lease.seq);
    }
    await spool.close();
    const reopened = await openSpool({ dir, segmentByteSize: 8192, diskBudgetBytes: 3 * 8192 });
    await expect(reopened.writer().append(payload)).resolves.toMatchObject({ seq: accepted + 1 });
    await reopened.close();
  });

  it("moves dead letters out of a segment it reclaims, keeps them across a reopen, and purges them", async () => {
    const dir = temporaryDirectory();
    const options = { dir, segmentByteSize: 8192, indexSegmentEntries: 64, maxAttempts: 1 };
    const spool = await openSpool(options);
    const messages = Array.from({ length: 40 }, (_, i) => `message ${i + 1}`.padEnd(1000, "."));
    await appendAll(spool, messages);
    for (let lease = await spool.take(); lease; lease = await spool.take()) {
      if (lease.seq === 3) await spool.nack(lease.seq);
      else await spool.ack(lease.seq);
    }
    expect([spool.messageState(3), spool.messageState(4)]).toEqual(["dead", "done"]);
    await spool.close();
    // Segment 1 held the dead letter and is gone all the same.
    expect(readdirSync(dir)).not.toContain("data-0000000001.seg");
    expect(readdirSync(dir)).toContain("dead-letters.json");
    const reopened = await openSpool(options);
    const letters = await reopened.deadLetters();
    expect(letters.map((letter) => [letter.seq, text(letter.payload), letter.attempts])).toEqual([
      [3, messages[2], 1],
    ]);
    expect(reopened.messageState(3)).toBe("dead");
    await reopened.purgeDeadLetter(3);
    expect(await reopened.deadLetters()).toEqual([]);
    expect(reopened.messageState(3)).toBe("done");
    await reopened.close();
  });
});

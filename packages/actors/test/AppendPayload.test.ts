import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { InvalidArgument, InvalidPayload } from "@spool/core";
import { describe, expect, it } from "vitest";
import { openSpool, type Spool } from "../src/spool/Spool.js";
import { connectWriter } from "../src/transports/WriterPort.js";
import { connectSocketWriter, serveWriters } from "../src/transports/WriterSocket.js";
import { temporaryDirectory } from "./helpers.js";

/** The payloads read back after close and reopen, by seq. */
async function readBack(disk: MemoryDisk, dir: string): Promise<Map<number, Uint8Array>> {
  const spool = await openSpool({ dir, adapter: memoryAdapter(disk) });
  const stored = new Map<number, Uint8Array>();
  for await (const record of spool.records()) stored.set(record.seq, record.payload.slice());
  await spool.close();
  return stored;
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

async function openMemory(dir: string): Promise<{ spool: Spool; disk: MemoryDisk }> {
  const disk = new MemoryDisk();
  return { spool: await openSpool({ dir, adapter: memoryAdapter(disk) }), disk };
}

describe("append stores the bytes the caller's view shows", () => {
  const shared = new ArrayBuffer(32);
  new Uint8Array(shared).forEach((_, i, all) => {
    all[i] = 0x40 + i;
  });
  const cases: [string, () => unknown, Uint8Array][] = [
    [
      "an ArrayBuffer, all of its bytes (not stale bytes of an earlier record)",
      () => new Uint8Array(16).fill(0xab).buffer,
      new Uint8Array(16).fill(0xab),
    ],
    [
      "a DataView over part of a buffer",
      () => new DataView(shared, 4, 8),
      new Uint8Array(shared, 4, 8).slice(),
    ],
    [
      "a Float64Array as its eight bytes per element, not converted",
      () => new Float64Array([1.5, -2.25]),
      bytesOf(new Float64Array([1.5, -2.25])),
    ],
    [
      "a Uint16Array as its two bytes per element, not truncated",
      () => new Uint16Array([0x1234, 0xfffe]),
      bytesOf(new Uint16Array([0x1234, 0xfffe])),
    ],
    [
      "a Uint16Array at an offset in its buffer",
      () => new Uint16Array(shared, 6, 3),
      new Uint8Array(shared, 6, 6).slice(),
    ],
    [
      "a Buffer at an offset in a larger buffer",
      () => Buffer.from(shared, 10, 5),
      new Uint8Array(shared, 10, 5).slice(),
    ],
    ["a string, as UTF-8", () => "héllo ☃", new TextEncoder().encode("héllo ☃")],
  ];

  it.each(cases)("%s", async (_name, make, expected) => {
    const { spool, disk } = await openMemory("payload-exact");
    const writer = spool.writer();
    // A record before it, so a buffer that is read as stale staging bytes shows up.
    const before = await writer.append("secret");
    const { seq, durability } = await writer.append(make() as never);
    expect(durability).toBe("flushed");
    await spool.close();
    const stored = await readBack(disk, "payload-exact");
    expect(stored.get(before.seq)).toEqual(new TextEncoder().encode("secret"));
    expect(stored.get(seq)).toEqual(expected);
  });

  it("stores a SharedArrayBuffer's bytes as they are", async () => {
    const { spool, disk } = await openMemory("payload-sab");
    const sab = new SharedArrayBuffer(5);
    new Uint8Array(sab).set([1, 2, 3, 4, 5]);
    const { seq } = await spool.writer().append(sab);
    await spool.close();
    expect((await readBack(disk, "payload-sab")).get(seq)).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
  });
});

describe("append refuses what is not a payload, and only that append", () => {
  const detached = (): ArrayBuffer => {
    const buffer = new ArrayBuffer(8);
    structuredClone(buffer, { transfer: [buffer] });
    return buffer;
  };
  const garbage: [string, () => unknown][] = [
    ["a number", () => 123],
    ["a plain object", () => ({})],
    ["a boolean", () => true],
    ["an array", () => [1, 2]],
    ["an object with a NaN byteLength", () => ({ byteLength: Number.NaN })],
    ["an object with a negative byteLength", () => ({ byteLength: -1 })],
    ["null", () => null],
    ["undefined", () => undefined],
    ["a detached ArrayBuffer", detached],
    ["a Proxy around a Uint8Array", () => new Proxy(new Uint8Array(4), {})],
    [
      "a revoked Proxy (it throws even at instanceof)",
      () => {
        const { proxy, revoke } = Proxy.revocable(new Uint8Array(4), {});
        revoke();
        return proxy;
      },
    ],
    [
      "a view over a buffer detached since",
      () => {
        const view = new Float64Array(4);
        structuredClone(view.buffer, { transfer: [view.buffer] });
        return view;
      },
    ],
    [
      "a Uint8Array over a buffer detached since",
      () => {
        const view = new Uint8Array(4);
        structuredClone(view.buffer, { transfer: [view.buffer] });
        return view;
      },
    ],
  ];

  it.each(garbage)("%s: a rejected InvalidPayload, never a throw", async (_name, make) => {
    const { spool } = await openMemory("payload-garbage");
    let outcome: Promise<unknown> | undefined;
    expect(() => {
      outcome = spool.writer().append(make() as never);
    }).not.toThrow();
    await expect(outcome).rejects.toBeInstanceOf(InvalidPayload);
    await spool.close();
  });

  it.each(garbage)(
    "%s: the valid appends beside it resolve and the spool goes on",
    async (_n, make) => {
      const { spool, disk } = await openMemory("payload-beside");
      const writer = spool.writer();
      // Same microtask: one request group, one batch.
      const outcomes = await Promise.allSettled([
        writer.append("a"),
        writer.append(make() as never),
        writer.append(new Uint8Array([1, 2])),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(spool.stats().state).not.toMatch(/broken|failed|closed/);
      const after = await writer.append("after");
      expect(after.durability).toBe("flushed");
      await spool.close();
      const stored = await readBack(disk, "payload-beside");
      expect([...stored.values()]).toEqual([
        new TextEncoder().encode("a"),
        new Uint8Array([1, 2]),
        new TextEncoder().encode("after"),
      ]);
    },
  );
});

describe("append checks its options", () => {
  const bad: [string, unknown][] = [
    ["an unknown durability", { durability: "fsync" }],
    ["a durability of the wrong type", { durability: 1 }],
    ["options that are not an object", 5],
    ["null options", null],
  ];

  it.each(bad)("%s: a rejected InvalidArgument, the spool goes on", async (_name, options) => {
    const { spool } = await openMemory("payload-options");
    const writer = spool.writer();
    const [good, refused] = await Promise.allSettled([
      writer.append("a"),
      writer.append("b", options as never),
    ]);
    expect(good.status).toBe("fulfilled");
    expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(InvalidArgument);
    await expect(writer.append("c")).resolves.toMatchObject({ durability: "flushed" });
    await spool.close();
  });
});

describe("a writer over a port takes the same payloads", () => {
  it("stores a Float64Array and a DataView exactly, refuses a number: InvalidPayload", async () => {
    const { spool, disk } = await openMemory("payload-port");
    const writer = await connectWriter(spool.port());
    const floats = new Float64Array([3.25, -1e300]);
    const buffer = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer;
    const [a, bad, b] = await Promise.allSettled([
      writer.append(floats),
      writer.append(123 as never),
      writer.append(new DataView(buffer, 2, 4)),
    ]);
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(InvalidPayload);
    writer.close();
    await spool.close();
    const stored = await readBack(disk, "payload-port");
    const seqOf = (outcome: PromiseSettledResult<{ seq: number }>) =>
      (outcome as PromiseFulfilledResult<{ seq: number }>).value.seq;
    expect(stored.get(seqOf(a))).toEqual(bytesOf(floats));
    expect(stored.get(seqOf(b))).toEqual(new Uint8Array([2, 3, 4, 5]));
  });
});

describe("a peer on a writer port that sends what no writer would", () => {
  it("gets its bad requests refused one by one, and the spool goes on", async () => {
    const { spool, disk } = await openMemory("payload-peer");
    const port = spool.port();
    const answers: { t: string; ids?: number[]; error?: { tag: string } }[] = [];
    const written = new Promise<void>((resolve) => {
      port.on("message", (message: { t: string; batchId?: number; ids?: number[] }) => {
        answers.push(message);
        if (message.t === "written") {
          port.postMessage({ t: "confirmed", batchId: message.batchId });
          resolve();
        }
      });
    });
    port.postMessage({
      t: "send",
      requests: [
        { id: 1, payload: 123, durability: "flushed" },
        { id: 2, payload: new Uint8Array([7]), durability: "flushed" },
        { id: 3, payload: new Uint8Array([8]), durability: "eventually" },
      ],
    });
    await written;
    const failed = answers.filter((answer) => answer.t === "failed");
    expect(failed.map((answer) => [answer.ids, answer.error?.tag])).toEqual([
      [[1], "InvalidPayload"],
      [[3], "InvalidArgument"],
    ]);
    expect(answers.find((answer) => answer.t === "written")?.ids).toEqual([2]);
    await expect(spool.writer().append("after")).resolves.toMatchObject({ durability: "flushed" });
    port.close();
    await spool.close();
    expect([...(await readBack(disk, "payload-peer")).values()]).toEqual([
      new Uint8Array([7]),
      new TextEncoder().encode("after"),
    ]);
  });
});

describe("a peer's requests get the checks append gives, in one pass", () => {
  it("a request without an id cuts the peer off, and none of its message is written", async () => {
    const { spool, disk } = await openMemory("peer-no-id");
    const port = spool.port();
    const closed = new Promise<void>((resolve) => port.once("close", () => resolve()));
    port.on("message", () => undefined);
    port.postMessage({
      t: "send",
      requests: [
        { id: 1, payload: new Uint8Array([1]), durability: "flushed" },
        { payload: new Uint8Array([2]), durability: "flushed" },
      ],
    });
    await closed;
    await expect(spool.writer().append("after")).resolves.toMatchObject({ durability: "flushed" });
    await spool.close();
    expect([...(await readBack(disk, "peer-no-id")).values()]).toEqual([
      new TextEncoder().encode("after"),
    ]);
  });

  it("a payload over the record bound is refused with RecordTooLarge", async () => {
    const disk = new MemoryDisk();
    const dir = "peer-too-large";
    const adapter = memoryAdapter(disk);
    const spool = await openSpool({ dir, adapter, recordPayloadByteSizeMax: 4 });
    const port = spool.port();
    const failed = new Promise<{ ids: number[]; error: { tag: string } }>((resolve) => {
      port.on("message", (message: { t: string; ids: number[]; error: { tag: string } }) => {
        if (message.t === "failed") resolve(message);
      });
    });
    port.postMessage({
      t: "send",
      requests: [{ id: 9, payload: new Uint8Array(5), durability: "async" }],
    });
    expect(await failed).toMatchObject({ ids: [9], error: { tag: "RecordTooLarge" } });
    port.close();
    await spool.close();
  });
});

describe("a writer over a Unix socket takes the same payloads", () => {
  it("stores a Float64Array and a DataView exactly, refuses {}: InvalidPayload", async () => {
    const dir = temporaryDirectory();
    const disk = new MemoryDisk();
    const spool = await openSpool({ dir, adapter: memoryAdapter(disk) });
    const server = await serveWriters(spool);
    const writer = await connectSocketWriter(server.path);
    const floats = new Float64Array([0.1, Number.MAX_VALUE]);
    const buffer = new Uint8Array([10, 11, 12, 13, 14, 15]).buffer;
    const [a, bad, b] = await Promise.allSettled([
      writer.append(floats),
      writer.append({} as never),
      writer.append(new DataView(buffer, 1, 3)),
    ]);
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(InvalidPayload);
    writer.close();
    await server.close();
    await spool.close();
    const stored = await readBack(disk, dir);
    const seqOf = (outcome: PromiseSettledResult<{ seq: number }>) =>
      (outcome as PromiseFulfilledResult<{ seq: number }>).value.seq;
    expect(stored.get(seqOf(a))).toEqual(bytesOf(floats));
    expect(stored.get(seqOf(b))).toEqual(new Uint8Array([11, 12, 13]));
  });
});

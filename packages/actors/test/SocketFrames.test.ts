import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSpool, serveWriters } from "../src/index.js";
import {
  decodeSpoolFrame,
  decodeWriterFrame,
  encodeConnect,
  encodePing,
  encodeToSpool,
  encodeToWriter,
  FrameInvalid,
  type SpoolFrame,
} from "../src/transports/SocketFrames.js";
import { buildFrame, type FrameValues, readFrame, readFrameTable } from "./FrameTable.js";

const table = readFrameTable();
const payload = new TextEncoder().encode("from the table");

/** Each spool frame: its values by the table's names, and the message the module encodes. */
const SPOOL_SAMPLES: readonly { values: FrameValues; message: SpoolFrame }[] = [
  {
    values: { token: 2 ** 33 + 7, leaseMs: 10_000 },
    message: { t: "session", token: 2 ** 33 + 7, leaseMs: 10_000 },
  },
  {
    values: { reason: "uid 65534 may not write" },
    message: { t: "refused", reason: "uid 65534 may not write" },
  },
  {
    values: {
      version: 1,
      senderId: 3,
      dir: "/var/spool/é",
      config: { recordPayloadByteSizeMax: 64 },
    },
    message: {
      t: "hello",
      version: 1,
      senderId: 3,
      dir: "/var/spool/é",
      config: { recordPayloadByteSizeMax: 64 } as never,
    },
  },
  { values: {}, message: { t: "receipt" } },
  {
    values: { batchId: 5, level: "async", count: 2, id: [1, 2], seq: [10, 11] },
    message: { t: "written", batchId: 5, level: "async", ids: [1, 2], seqs: [10, 11] },
  },
  { values: { count: 2, id: [4, 9] }, message: { t: "resend", ids: [4, 9] } },
  {
    values: { count: 1, id: [4], error: { tag: "RecordTooLarge", fields: { byteSize: 9 } } },
    message: { t: "failed", ids: [4], error: { tag: "RecordTooLarge", fields: { byteSize: 9 } } },
  },
];

const token = 2 ** 33 + 7;
/** Each writer frame: its name and values by the table's names, and what the module makes. */
const WRITER_SAMPLES: readonly { name: string; values: FrameValues; encoded: Uint8Array }[] = [
  {
    name: "connect",
    values: { version: 1, pid: 4242, magic: "SPOOLW" },
    encoded: encodeConnect(4242),
  },
  { name: "ping", values: { token }, encoded: encodePing(token) },
  {
    name: "send",
    values: {
      token,
      last: 1,
      count: 2,
      id: [1, 2],
      durability: ["flushed", "async"],
      size: [payload.byteLength, 0],
      payload: [payload, new Uint8Array(0)],
    },
    encoded: encodeToSpool(
      {
        t: "send",
        requests: [
          { id: 1, durability: "flushed", payload },
          { id: 2, durability: "async", payload: new Uint8Array(0) },
        ],
      },
      token,
      1 << 20,
    )[0]!,
  },
  {
    name: "confirmed",
    values: { token, batchId: 12 },
    encoded: encodeToSpool({ t: "confirmed", batchId: 12 }, token, 1 << 20)[0]!,
  },
];

describe("the frame table in SocketFrames.ts's documentation", () => {
  it("names every frame type the decoders know, and no other", () => {
    const unknownTo = (decode: (body: Uint8Array) => unknown, type: number): boolean => {
      try {
        decode(new Uint8Array([type]));
      } catch (error) {
        return error instanceof FrameInvalid && /unknown frame type/.test(error.message);
      }
      return false;
    };
    for (let type = 0; type < 256; type++) {
      const documented = [...table.frames.values()].find((frame) => frame.type === type);
      if (documented === undefined) {
        expect(unknownTo(decodeSpoolFrame, type), `spool type ${type} undocumented`).toBe(true);
        expect(unknownTo(decodeWriterFrame, type), `writer type ${type} undocumented`).toBe(true);
      } else {
        const decode = documented.from === "spool" ? decodeSpoolFrame : decodeWriterFrame;
        expect(unknownTo(decode, type), `${documented.name} (${type}) not decoded`).toBe(false);
      }
    }
  });

  it("every spool frame built from the table is the module's encoding and decodes to its message", () => {
    const spoolFrames = [...table.frames.values()].filter((frame) => frame.from === "spool");
    expect(spoolFrames.map((frame) => frame.name).sort()).toEqual(
      SPOOL_SAMPLES.map((sample) => sample.message.t).sort(),
    );
    for (const { values, message } of SPOOL_SAMPLES) {
      const built = buildFrame(table, message.t, values);
      expect(decodeSpoolFrame(built.subarray(4)), message.t).toEqual(message);
      expect(built, message.t).toEqual(Buffer.from(encodeToWriter(message)));
    }
  });

  it("every writer frame built from the table is the module's encoding and the spool decodes it", () => {
    const writerFrames = [...table.frames.values()].filter((frame) => frame.from === "writer");
    expect(writerFrames.map((frame) => frame.name).sort()).toEqual(
      WRITER_SAMPLES.map((sample) => sample.name).sort(),
    );
    for (const { name, values, encoded } of WRITER_SAMPLES) {
      const built = buildFrame(table, name, values);
      expect(() => decodeWriterFrame(built.subarray(4)), name).not.toThrow();
      expect(built, name).toEqual(Buffer.from(encoded));
    }
  });
});

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A raw connection that reads the spool's frames with the table alone. */
function tableClient(socketPath: string) {
  const socket = net.createConnection(socketPath);
  const received: { name: string; values: FrameValues }[] = [];
  const waiters: (() => void)[] = [];
  let pending = Buffer.alloc(0);
  let closed = false;
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.byteLength >= 4 && pending.byteLength >= 4 + pending.readUInt32LE(0)) {
      const length = pending.readUInt32LE(0);
      try {
        received.push(readFrame(table, pending.subarray(4, 4 + length)));
      } catch (error) {
        // A frame the table cannot read fails the test where it waits, not in this handler.
        received.push({ name: "unreadable", values: { error: String(error) } });
        socket.destroy();
        return;
      }
      pending = pending.subarray(4 + length);
    }
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on("close", () => {
    closed = true;
    for (const wake of waiters.splice(0)) wake();
  });
  /** Resolves once a received frame passes `test`; rejects if the spool closes first. */
  const until = async (test: (frame: (typeof received)[number]) => boolean) => {
    for (;;) {
      const found = received.find(test);
      if (found !== undefined) return found;
      if (closed) throw new Error(`closed; received ${JSON.stringify(received)}`);
      await new Promise<void>((wake) => waiters.push(wake));
    }
  };
  return { socket, received, until };
}

describe("a client written from the table alone", () => {
  it("is served: its connect opens a session in the documented order, its send is kept", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "spool-frames-"));
    dirs.push(dir);
    const spool = await openSpool({ dir });
    const server = await serveWriters(spool);
    const client = tableClient(server.path);
    client.socket.write(
      buildFrame(table, "connect", { version: 1, pid: process.pid, magic: "SPOOLW" }),
    );
    const [, ...answers] = table.opening;
    await client.until((frame) => frame.name === answers.at(-1));
    expect(client.received.map((frame) => frame.name)).toEqual(answers);
    const session = client.received.find((frame) => frame.name === "session")!;
    const sessionToken = session.values.token;
    client.socket.write(buildFrame(table, "ping", { token: sessionToken }));
    const request = {
      id: [1],
      durability: ["flushed"],
      size: [payload.byteLength],
      payload: [payload],
    };
    client.socket.write(
      buildFrame(table, "send", { token: sessionToken, last: 1, count: 1, ...request }),
    );
    const written = await client.until(
      (frame) => frame.name === "written" && frame.values.level === "flushed",
    );
    expect(written.values.id).toEqual([1]);
    const seq = (written.values.seq as number[])[0]!;
    client.socket.write(
      buildFrame(table, "confirmed", { token: sessionToken, batchId: written.values.batchId }),
    );
    // The spool read everything after the session: a frame it refused would have closed it.
    expect(client.received.some((frame) => frame.name === "refused")).toBe(false);
    client.socket.end();
    await server.close();
    await spool.close();
    const reopened = await openSpool({ dir });
    const kept = new Map<number, string>();
    for await (const record of reopened.records()) {
      kept.set(record.seq, new TextDecoder().decode(record.payload));
    }
    await reopened.close();
    expect(kept.get(seq)).toBe("from the table");
  }, 60_000);
});

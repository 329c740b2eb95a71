import { ConfigInvalid, InvalidArgument, NotLeased } from "@spool/core";
import { type NatsCluster, startNatsCluster } from "@spool/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type JetStreamSpool, openJetStreamSpool, StreamMismatch } from "../src/index.js";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
let cluster: NatsCluster;
let streams = 0;

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 1 });
});
afterAll(async () => {
  await cluster?.stop();
});

/** A spool on a stream of its own, with a short lease so a lost one comes back soon. */
async function open(
  overrides: { stream?: string; config?: Record<string, unknown> } = {},
): Promise<JetStreamSpool> {
  return openJetStreamSpool({
    servers: cluster.urls(),
    stream: overrides.stream ?? `api_${++streams}`,
    replicas: 1,
    ...(overrides.config === undefined ? {} : { config: overrides.config }),
  });
}

describe("a spool on one JetStream server", () => {
  it("confirms appends with the stream's seqs, replicated, and hands them out in order", async () => {
    const spool = await open();
    const writer = spool.writer("smsc-1");
    const results = await Promise.all(["a", "b", "c"].map((body) => writer.append(body)));
    expect(results).toEqual([
      { seq: 1, durability: "replicated", replicas: 1 },
      { seq: 2, durability: "replicated", replicas: 1 },
      { seq: 3, durability: "replicated", replicas: 1 },
    ]);
    expect(await spool.depth()).toBe(3);
    const leases = await spool.takeMany(10);
    expect(leases.map((lease) => [lease.seq, text(lease.payload), lease.attempt])).toEqual([
      [1, "a", 1],
      [2, "b", 1],
      [3, "c", 1],
    ]);
    expect(await spool.messageState(2)).toBe("leased");
    for (const lease of leases) await spool.ack(lease.seq);
    expect(await spool.messageState(2)).toBe("done");
    expect(await spool.messageState(4)).toBe("unknown");
    expect(await spool.depth()).toBe(0);
    expect(await spool.take()).toBeUndefined();
    await spool.close();
  });

  it("refuses answers for messages it does not hold, and leases other than the ack wait", async () => {
    const spool = await open();
    await spool.writer().append("x");
    await expect(spool.ack(1)).rejects.toBeInstanceOf(NotLeased);
    await expect(spool.ack(0)).rejects.toBeInstanceOf(InvalidArgument);
    await expect(spool.take({ leaseMs: 5 })).rejects.toBeInstanceOf(InvalidArgument);
    const lease = await spool.take({ leaseMs: spool.config.leaseMs });
    expect(lease?.seq).toBe(1);
    await spool.ack(1);
    await expect(spool.ack(1)).rejects.toBeInstanceOf(NotLeased);
    await spool.close();
  });

  it("delivers a nacked message again, then makes it a dead letter, kept until purged", async () => {
    const spool = await open({ config: { maxAttempts: 2 } });
    await spool.writer().append("poison");
    const first = await spool.take();
    expect(first?.attempt).toBe(1);
    await spool.nack(1);
    let second = await spool.take();
    while (second === undefined) second = await spool.take();
    expect([second.seq, second.attempt]).toEqual([1, 2]);
    await spool.nack(1);
    let letters = await spool.deadLetters();
    while (letters.length === 0) letters = await spool.deadLetters();
    expect(letters.map((letter) => [letter.seq, text(letter.payload), letter.attempts])).toEqual([
      [1, "poison", 2],
    ]);
    expect(await spool.messageState(1)).toBe("dead");
    expect(await spool.depth()).toBe(0);
    expect(await spool.take()).toBeUndefined();
    await spool.purgeDeadLetter(1);
    expect(await spool.deadLetters()).toEqual([]);
    expect(await spool.messageState(1)).toBe("done");
    await expect(spool.purgeDeadLetter(1)).rejects.toBeInstanceOf(NotLeased);
    await spool.close();
  });

  it("consumes every message once across two spools sharing the stream", async () => {
    const stream = `shared_${++streams}`;
    const [left, right] = [await open({ stream }), await open({ stream })];
    const seen = new Map<number, string>();
    let duplicate = false;
    const handler = (lease: { seq: number; payload: Uint8Array }) => {
      if (seen.has(lease.seq)) duplicate = true;
      seen.set(lease.seq, text(lease.payload));
    };
    const consumers = [
      left.consume(handler, { concurrency: 4 }),
      right.consume(handler, { concurrency: 4 }),
    ];
    const appended = await Promise.all(
      Array.from({ length: 200 }, (_, at) =>
        (at % 2 === 0 ? left : right).writer().append(`m${at}`),
      ),
    );
    while ((await left.depth()) > 0) await new Promise((resolve) => setImmediate(resolve));
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    expect(duplicate).toBe(false);
    expect(seen.size).toBe(200);
    for (const [at, { seq }] of appended.entries()) expect(seen.get(seq)).toBe(`m${at}`);
    expect(left.stats().acks + right.stats().acks).toBe(200);
    await Promise.all([left.close(), right.close()]);
  });

  it("consumes with every handler busy without starving the handlers", async () => {
    const spool = await open();
    const writer = spool.writer();
    for (const body of ["s1", "s2", "s3", "s4"]) await writer.append(body);
    const handled: string[] = [];
    // A handler that finishes on a macrotask: a consume loop spinning in microtasks would
    // never let it (seen with concurrency 1 and a message held by the waiting pull).
    const consumer = spool.consume(
      (lease) =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            handled.push(text(lease.payload));
            resolve();
          }),
        ),
      { concurrency: 1 },
    );
    while (handled.length < 4) await new Promise((resolve) => setImmediate(resolve));
    await consumer.stop();
    expect(handled.sort()).toEqual(["s1", "s2", "s3", "s4"]);
    await spool.close();
  });

  it("reads back what the stream still holds, in seq order", async () => {
    const spool = await open();
    const writer = spool.writer();
    for (const body of ["r1", "r2", "r3"]) await writer.append(body);
    const lease = await spool.take();
    await spool.ack(lease!.seq);
    const records = [];
    for await (const record of spool.records({ from: 1 }))
      records.push([record.seq, text(record.payload)]);
    expect(records).toEqual([
      [2, "r2"],
      [3, "r3"],
    ]);
    await spool.close();
  });

  it("refuses directory options, bad names and a payload limit above the server's", async () => {
    const servers = cluster.urls();
    await expect(
      openJetStreamSpool({ servers, stream: "bad.name", replicas: 1 }),
    ).rejects.toBeInstanceOf(ConfigInvalid);
    await expect(
      openJetStreamSpool({ servers, stream: "dirs", replicas: 1, config: { segmentByteSize: 1 } }),
    ).rejects.toThrow(/config.segmentByteSize/);
    await expect(
      openJetStreamSpool({ servers, stream: "twice", replicas: 2 }),
    ).rejects.toBeInstanceOf(ConfigInvalid);
    await expect(open({ config: { recordPayloadByteSizeMax: 4 * 1024 * 1024 } })).rejects.toThrow(
      /max_payload/,
    );
  });

  it("refuses a stream configured otherwise and rejects an oversize append", async () => {
    const spool = await open({ stream: "mismatch" });
    const tooBig = new Uint8Array(spool.config.recordPayloadByteSizeMax + 1);
    await expect(spool.writer().append(tooBig)).rejects.toMatchObject({ _tag: "RecordTooLarge" });
    await spool.close();
    await expect(
      openJetStreamSpool({
        servers: cluster.urls(),
        stream: "mismatch",
        replicas: 1,
        config: { leaseMs: 1234 },
      }),
    ).rejects.toBeInstanceOf(StreamMismatch);
  });
});

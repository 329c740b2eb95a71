import { openJetStreamSpool } from "@spool/jetstream";
import { type NatsCluster, startNatsCluster } from "@spool/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ATTRIBUTE_KEYS, INSTRUMENT_NAMES, instrumentSpool } from "../src/index.js";
import { testSdk } from "./support/ManualReader.js";

const names = INSTRUMENT_NAMES;
let cluster: NatsCluster;

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 1 });
});
afterAll(async () => {
  await cluster?.stop();
});

describe("instrumentSpool on a JetStream stream (through SpoolApi)", () => {
  it("counts replicated appends, batches, leases, acks, nacks, dead letters, depth", async () => {
    const { meterProvider, collect } = testSdk();
    const spool = await openJetStreamSpool({
      servers: cluster.urls(),
      stream: "otel_counts",
      replicas: 1,
      config: { maxAttempts: 1 },
    });
    const telemetry = instrumentSpool(spool, { meterProvider });
    const writer = telemetry.writer("smsc-1");
    await Promise.all(["a", "b", "c"].map((body) => writer.append(body)));
    const leases = await spool.takeMany(2);
    expect(leases).toHaveLength(2);
    await spool.ack(leases[0]!.seq);
    await spool.nack(leases[1]!.seq); // its only attempt: a dead letter
    const collected = await collect();
    const stats = spool.stats();
    expect(
      collected.histogram(names.appendDuration, { [ATTRIBUTE_KEYS.durability]: "replicated" })
        .count,
    ).toBe(3);
    expect(collected.value(names.flushes)).toBe(stats.flushes);
    expect(collected.histogram(names.batchRecords).sum).toBe(3);
    expect(collected.value(names.leases)).toBe(2);
    expect(collected.value(names.acks)).toBe(1);
    expect(collected.value(names.nacks)).toBe(1);
    expect(collected.value(names.deadLetters)).toBe(1);
    // The stream's depth: c, queued (the dead letter is excluded).
    expect(collected.value(names.queueDepth)).toBe(1);
    // What only a directory counts is absent, not zero.
    expect(collected.names()).not.toContain(names.messages);
    expect(collected.names()).not.toContain(names.leasesExpired);
    telemetry.dispose();
    await spool.close();
  });
});

import { readFileSync } from "node:fs";
import { openSpool } from "@spool/actors";
import { memoryAdapter } from "@spool/adapters";
import { InvalidArgument, InvalidPayload } from "@spool/core";
import { describe, expect, it } from "vitest";
import {
  ATTRIBUTE_KEYS,
  INSTRUMENT_NAMES,
  instrumentSpool,
  SPOOL_METER_NAME,
  SPOOL_METER_VERSION,
} from "../src/index.js";
import { testSdk } from "./support/ManualReader.js";

const names = INSTRUMENT_NAMES;
const keys = ATTRIBUTE_KEYS;
const name = { "spool.name": "orders" };

describe("instrumentSpool on a spool directory", () => {
  it("counts what was done: appends, batches, leases, acks, nacks and dead letters", async () => {
    const { meterProvider, collect } = testSdk();
    const spool = await openSpool({ dir: "counted", adapter: memoryAdapter(), maxAttempts: 2 });
    const telemetry = instrumentSpool(spool, { meterProvider, attributes: name });
    const writer = telemetry.writer("smsc-1");
    await Promise.all(["a", "b", "c", "d"].map((body) => writer.append(body)));
    const leases = await spool.takeMany(4);
    await spool.ack(leases[0]!.seq);
    await spool.ack(leases[1]!.seq);
    await spool.nack(leases[2]!.seq);
    await spool.nack(leases[3]!.seq);
    for (const lease of await spool.takeMany(2)) await spool.nack(lease.seq); // their last: dead
    const collected = await collect();
    const stats = spool.stats();
    expect(
      collected.histogram(names.appendDuration, { ...name, [keys.durability]: "flushed" }),
    ).toMatchObject({ count: 4 });
    expect(collected.value(names.flushes, name)).toBe(stats.flushes);
    expect(collected.histogram(names.batchRecords, name)).toEqual({
      count: stats.flushes,
      sum: 4,
    });
    expect(collected.histogram(names.batchSize, name)).toEqual({
      count: stats.flushes,
      sum: stats.bytes,
    });
    expect(collected.histogram(names.flushDuration, name).count).toBe(stats.flushes);
    for (const [reason, count] of Object.entries(stats.flushReasons)) {
      if (count === 0) continue;
      expect(collected.value(names.flushes, { [keys.flushReason]: reason })).toBe(count);
    }
    expect(collected.value(names.leases, name)).toBe(6);
    expect(collected.value(names.acks, name)).toBe(2);
    expect(collected.value(names.nacks, name)).toBe(4);
    expect(collected.value(names.deadLetters, name)).toBe(2);
    expect(collected.value(names.leasesLost, name)).toBe(0);
    expect(collected.value(names.leasesExpired, name)).toBe(0);
    expect(collected.value(names.queueDepth, name)).toBe(0);
    expect(collected.value(names.messages, { [keys.messageState]: "dead" })).toBe(2);
    expect(collected.attributeValues(names.messages, keys.messageState)).toEqual([
      "dead",
      "leased",
      "queued",
      "retryWait",
    ]);
    telemetry.dispose();
    await spool.close();
  });

  it("observes the queue at each collection: its depth and its messages by state", async () => {
    const { meterProvider, collect } = testSdk();
    const spool = await openSpool({ dir: "depth", adapter: memoryAdapter() });
    const telemetry = instrumentSpool(spool, { meterProvider });
    const writer = telemetry.writer();
    await Promise.all(["a", "b", "c"].map((body) => writer.append(body)));
    const lease = await spool.take();
    let collected = await collect();
    expect(collected.value(names.queueDepth)).toBe(3);
    expect(collected.value(names.messages, { [keys.messageState]: "queued" })).toBe(2);
    expect(collected.value(names.messages, { [keys.messageState]: "leased" })).toBe(1);
    await spool.ack(lease!.seq);
    collected = await collect();
    expect(collected.value(names.queueDepth)).toBe(2);
    expect(collected.value(names.messages, { [keys.messageState]: "leased" })).toBe(0);
    expect(collected.value(names.acks)).toBe(1);
    telemetry.dispose();
    await spool.close();
  });

  it("measures a refused append with its error type and the durability it asked for", async () => {
    const { meterProvider, collect } = testSdk();
    const spool = await openSpool({ dir: "refused", adapter: memoryAdapter() });
    const telemetry = instrumentSpool(spool, { meterProvider });
    const writer = telemetry.writer();
    await expect(writer.append(123 as never)).rejects.toBeInstanceOf(InvalidPayload);
    const fsync = { durability: "fsync" } as never;
    await expect(writer.append("x", fsync)).rejects.toBeInstanceOf(InvalidArgument);
    await writer.append("y", { durability: "async" });
    const collected = await collect();
    expect(
      collected.histogram(names.appendDuration, {
        [keys.errorType]: "InvalidPayload",
        [keys.durability]: "flushed",
      }).count,
    ).toBe(1);
    const invalid = collected
      .metric(names.appendDuration)
      .dataPoints.find((point) => point.attributes[keys.errorType] === "InvalidArgument");
    expect(invalid?.attributes).toEqual({ [keys.errorType]: "InvalidArgument" });
    expect(collected.histogram(names.appendDuration, { [keys.durability]: "async" }).count).toBe(1);
    telemetry.dispose();
    await spool.close();
  });

  it("tells two spools on one meter apart by their attributes", async () => {
    const { meterProvider, collect } = testSdk();
    const first = await openSpool({ dir: "first", adapter: memoryAdapter() });
    const second = await openSpool({ dir: "second", adapter: memoryAdapter() });
    const one = instrumentSpool(first, { meterProvider, attributes: { "spool.name": "first" } });
    const two = instrumentSpool(second, { meterProvider, attributes: { "spool.name": "second" } });
    await one.writer().append("a");
    await Promise.all(["b", "c"].map((body) => two.writer().append(body)));
    const collected = await collect();
    expect(collected.histogram(names.appendDuration, { "spool.name": "first" }).count).toBe(1);
    expect(collected.histogram(names.appendDuration, { "spool.name": "second" }).count).toBe(2);
    expect(collected.value(names.queueDepth, { "spool.name": "first" })).toBe(1);
    expect(collected.value(names.queueDepth, { "spool.name": "second" })).toBe(2);
    one.dispose();
    two.dispose();
    await Promise.all([first.close(), second.close()]);
  });

  it("measures writers made elsewhere, and nothing once disposed", async () => {
    const { meterProvider, collect } = testSdk();
    const spool = await openSpool({ dir: "disposed", adapter: memoryAdapter() });
    const telemetry = instrumentSpool(spool, { meterProvider });
    const measured = telemetry.measure(spool.writer("elsewhere"));
    await measured.append("a");
    telemetry.dispose();
    telemetry.dispose(); // idempotent
    await measured.append("b");
    await telemetry.writer().append("c");
    const collected = await collect();
    expect(collected.histogram(names.appendDuration).count).toBe(1);
    expect(collected.histogram(names.batchRecords).sum).toBe(1);
    // The observers are gone: the counters, the states and the depth have no point any more.
    expect(collected.names()).toEqual([
      names.appendDuration,
      names.batchRecords,
      names.batchSize,
      names.flushDuration,
      names.flushes,
    ]);
    expect(spool.stats().records).toBe(3);
    await spool.close();
  });

  it("changes nothing with no SDK registered (the API's no-op meter)", async () => {
    const spool = await openSpool({ dir: "noop", adapter: memoryAdapter() });
    const telemetry = instrumentSpool(spool);
    expect(await telemetry.writer().append("a")).toEqual({ seq: 1, durability: "flushed" });
    await expect(telemetry.writer().append(null as never)).rejects.toBeInstanceOf(InvalidPayload);
    telemetry.dispose();
    await spool.close();
  });

  it("names its meter @spool/otel at this package's version", async () => {
    const { meterProvider, collect } = testSdk();
    const spool = await openSpool({ dir: "scope", adapter: memoryAdapter() });
    const telemetry = instrumentSpool(spool, { meterProvider });
    await telemetry.writer().append("a");
    const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect((await collect()).scopes).toEqual([
      { name: SPOOL_METER_NAME, version: SPOOL_METER_VERSION },
    ]);
    expect(SPOOL_METER_VERSION).toBe(manifest.version);
    telemetry.dispose();
    await spool.close();
  });
});

describe("instrumentSpool's arguments", () => {
  const argumentOf = (make: () => unknown) => {
    try {
      make();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgument);
      return (error as InvalidArgument).argument;
    }
    throw new Error("accepted");
  };

  it("refuses, with InvalidArgument naming the argument, what it cannot measure with", async () => {
    const { meterProvider } = testSdk();
    const spool = await openSpool({ dir: "arguments", adapter: memoryAdapter() });
    const meter = meterProvider.getMeter("x");
    expect(argumentOf(() => instrumentSpool(null as never))).toBe("spool");
    expect(argumentOf(() => instrumentSpool({ writer() {} } as never))).toBe("spool.stats");
    expect(argumentOf(() => instrumentSpool(spool, 7 as never))).toBe("options");
    expect(argumentOf(() => instrumentSpool(spool, { meters: meter } as never))).toBe(
      "options.meters",
    );
    expect(argumentOf(() => instrumentSpool(spool, { meter, meterProvider }))).toBe(
      "options.meter",
    );
    expect(argumentOf(() => instrumentSpool(spool, { meter: {} as never }))).toBe(
      "options.meter.createHistogram",
    );
    expect(argumentOf(() => instrumentSpool(spool, { meterProvider: {} as never }))).toBe(
      "options.meterProvider.getMeter",
    );
    expect(argumentOf(() => instrumentSpool(spool, { attributes: [] as never }))).toBe(
      "options.attributes",
    );
    expect(argumentOf(() => instrumentSpool(spool, { attributes: { at: {} as never } }))).toBe(
      "options.attributes.at",
    );
    const telemetry = instrumentSpool(spool, { meter });
    expect(argumentOf(() => telemetry.measure({ append() {} } as never))).toBe("writer.close");
    telemetry.dispose();
    await spool.close();
  });
});

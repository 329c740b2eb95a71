/**
 * The gateway on a JetStream cluster: two gateways on one pair of streams share one queue, so a
 * message submitted to either is forwarded once, by whichever gateway leased it. Runs against a
 * nats-server of its own (`startNatsCluster` from @spool/testing), each test on streams of its own.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Spool } from "@spool/actors";
import type { JetStreamSpool } from "@spool/jetstream";
import { type NatsCluster, startNatsCluster } from "@spool/testing";
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { type Gateway, type GatewayOptions, openGateway } from "../src/Gateway.js";
import type { GatewaySpool } from "../src/GatewaySpool.js";
import { openSink, type Sink } from "../src/Sink.js";
import { type JetStreamStore, spoolStoreOf } from "../src/SpoolStore.js";
import { basicAuthorization, submissionBody } from "../src/Submission.js";
import { closeAll, closers, statusCodeIn, until } from "./harness/FrontDoor.js";

/** The tests' server, started by the describe blocks that need it. */
let nats: NatsCluster | undefined;
afterEach(closeAll);

/** Forwards each gateway runs at once: small, so a held sink fills both gateways' handlers. */
const CONCURRENCY = 4;

/** Streams no other test (and no earlier run) uses. */
function freshStore(): JetStreamStore {
  const stream = `mms_${randomBytes(6).toString("hex")}`;
  const servers = nats!.urls().split(",");
  return {
    kind: "jetstream",
    servers,
    stream,
    reportsStream: `${stream}_reports`,
    replicas: 1,
    consumer: "gateway",
  };
}

async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-cluster-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A gateway on `store` with a directory of its own, forwarding to `sink`. */
async function clusterGateway(
  store: JetStreamStore,
  sink: Sink,
  options: Partial<GatewayOptions> = {},
): Promise<Gateway> {
  const gateway = await openGateway({
    dir: await temporaryDirectory(),
    store,
    vasps: [{ vaspId: "acme", password: "s3cret", reportUrl: sink.reportUrl }],
    recipientUrl: sink.deliverUrl,
    // A forward may wait on the held sink: the longest the 30 s lease allows, so that none
    // times out and is forwarded again while the test holds it.
    delivery: { concurrency: CONCURRENCY, timeoutMs: 25_000 },
    ...options,
  });
  closers.push(() => gateway.close());
  return gateway;
}

/** Submits message `n` to `gateway`, asking for a delivery report; resolves its MessageID. */
async function submit(gateway: Gateway, n: number): Promise<string> {
  const { contentType, body } = submissionBody({
    transactionId: `tx-${n}`,
    vaspId: "acme",
    recipients: ["447700900123"],
    deliveryReport: true,
    attachments: [{ contentType: "text/plain", contentId: "a.txt", bytes: Buffer.from(`${n}`) }],
  });
  const response = await fetch(`${gateway.url}/mm7`, {
    method: "POST",
    headers: {
      "content-type": contentType,
      authorization: basicAuthorization("acme", "s3cret"),
      soapaction: '""',
    },
    body,
  });
  const text = await response.text();
  expect([n, statusCodeIn(text)]).toEqual([n, 1000]);
  return /<MessageID>([^<]+)<\/MessageID>/.exec(text)![1]!;
}

/** What `gateway`'s status query says of `messageId`. */
async function stateOn(gateway: Gateway, messageId: string): Promise<string> {
  const response = await fetch(`${gateway.url}/mm7/messages/${messageId}`, {
    headers: { authorization: basicAuthorization("acme", "s3cret") },
  });
  return ((await response.json()) as { state: string }).state;
}

/** Messages `gateway` forwarded and saw accepted (its `mms_deliveries_total{result="delivered"}`). */
async function deliveredBy(gateway: Gateway): Promise<number> {
  const { values } = await gateway.metrics.deliveries.get();
  return values.find((value) => value.labels.result === "delivered")?.value ?? 0;
}

describe("on a nats-server of the tests' own", () => {
  beforeAll(async () => {
    nats = await startNatsCluster({ size: 1 });
  });
  afterAll(async () => {
    await nats?.stop();
  });

  describe("two gateways on one JetStream stream", () => {
    it("forward every message submitted to either exactly once, both gateways forwarding", async () => {
      let release = () => {};
      const sink = await openSink({ hold: new Promise<void>((resolve) => (release = resolve)) });
      closers.push(() => sink.close());
      const store = freshStore();
      // One identity for both: a MessageID one gives out is the one the other forwards with.
      // Started together, they race to make it: one makes it, the other reads that one.
      const identityFile = path.join(await temporaryDirectory(), "gateway-identity.json");
      const [first, second] = await Promise.all([
        clusterGateway(store, sink, { identityFile }),
        clusterGateway(store, sink, { identityFile }),
      ]);
      const count = 6 * CONCURRENCY;
      const submitted = await Promise.all(
        Array.from({ length: count }, (_, n) => submit(n % 2 === 0 ? first : second, n)),
      );
      // Each gateway forwards at most CONCURRENCY at once: the held sink gets twice that only
      // when both gateways' handlers all hold one.
      await until(() => sink.held() === 2 * CONCURRENCY, "both gateways' handlers all forwarding");
      release();
      await until(() => sink.stats().distinct === count, "every message forwarded");
      await until(async () => (await first.messages.depth()) === 0, "every message acked");
      await until(() => sink.stats().reports === count, "every delivery report posted");
      expect(sink.stats()).toMatchObject({ delivered: count, distinct: count, refused: 0 });
      expect([...sink.received.keys()].sort()).toEqual([...submitted].sort());
      expect([...sink.received.values()].every((times) => times === 1)).toBe(true);
      const reported = sink.reports.map((body) => /<MessageID>([^<]+)</.exec(body)?.[1]);
      expect(reported.sort()).toEqual([...submitted].sort());
      const [byFirst, bySecond] = [await deliveredBy(first), await deliveredBy(second)];
      expect(byFirst + bySecond).toBe(count);
      expect(byFirst).toBeGreaterThanOrEqual(CONCURRENCY);
      expect(bySecond).toBeGreaterThanOrEqual(CONCURRENCY);
      // Either gateway answers for any message: the seq is the stream's, the identity shared.
      for (const [n, messageId] of submitted.entries()) {
        const other = n % 2 === 0 ? second : first;
        expect([messageId, await stateOn(other, messageId)]).toEqual([messageId, "Delivered"]);
      }
    });

    it("shows the synchronizer, its batches and the stream's depth on the live view", async () => {
      const sink = await openSink();
      closers.push(() => sink.close());
      const gateway = await clusterGateway(freshStore(), sink);
      await submit(gateway, 1);
      await until(async () => (await gateway.messages.depth()) === 0, "the message acked");
      const live = (await (await fetch(`${gateway.adminUrl}/live.json`)).json()) as Record<
        string,
        unknown
      >;
      expect(live).toMatchObject({ messages: null, depth: 0 });
      expect(live.recentBatches).toEqual([expect.objectContaining({ records: 1 })]);
      expect(typeof live.state).toBe("string");
      const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
      expect(metrics).toContain("spool_queue_depth 0");
      expect(metrics).not.toContain("spool_queue_messages{");
    });
  });

  describe("what a JetStream store cannot do", () => {
    it("refuses handler threads at open, naming both settings", async () => {
      const sink = await openSink();
      closers.push(() => sink.close());
      await expect(clusterGateway(freshStore(), sink, { handlerThreads: 2 })).rejects.toThrow(
        /handlerThreads \(2\) cannot run on a JetStream store: .*GATEWAY_HANDLER_THREADS=0.*SPOOL_STORE/,
      );
    });
  });
});

describe("SPOOL_STORE and its companions", () => {
  it("keep the directory without SPOOL_STORE, and name the streams by default with it", () => {
    expect(spoolStoreOf({})).toEqual({ kind: "directory" });
    expect(spoolStoreOf({ SPOOL_STORE: "nats://a:4222,nats://b:4222" })).toEqual({
      kind: "jetstream",
      servers: ["nats://a:4222", "nats://b:4222"],
      stream: "mms",
      reportsStream: "mms_reports",
      replicas: 1,
      consumer: "gateway",
    });
    const named = { SPOOL_STORE: "nats://a:4222", GATEWAY_STREAM: "mm7", SPOOL_REPLICAS: "3" };
    expect(spoolStoreOf(named)).toMatchObject({ stream: "mm7", reportsStream: "mm7_reports" });
  });

  it("refuse what JetStream would not take, naming the variable", () => {
    const nats = "nats://127.0.0.1:4222";
    expect(() => spoolStoreOf({ SPOOL_STORE: "http://a" })).toThrow(/SPOOL_STORE must be nats/);
    expect(() => spoolStoreOf({ SPOOL_STORE: nats, SPOOL_REPLICAS: "2" })).toThrow(
      /SPOOL_REPLICAS must be 1, 3 or 5, not "2"/,
    );
    expect(() => spoolStoreOf({ SPOOL_STORE: nats, GATEWAY_STREAM: "a.b" })).toThrow(
      /GATEWAY_STREAM must be/,
    );
    const same = { SPOOL_STORE: nats, GATEWAY_STREAM: "x", GATEWAY_REPORTS_STREAM: "x" };
    expect(() => spoolStoreOf(same)).toThrow(/GATEWAY_REPORTS_STREAM must differ/);
  });

  it("are served by one interface that both spools satisfy", () => {
    expectTypeOf<Spool>().toExtend<GatewaySpool>();
    expectTypeOf<JetStreamSpool>().toExtend<GatewaySpool>();
  });
});

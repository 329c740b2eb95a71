import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { synchronizerMachine } from "@spool/actors";
import { INSTRUMENT_NAMES, SPOOL_METER_NAME } from "@spool/otel";
import { afterEach, describe, expect, it } from "vitest";
import { type GatewayOptions, openGateway } from "../src/Gateway.js";
import { openSink } from "../src/Sink.js";
import { closeAll, closers, startGateway, submit } from "./harness/FrontDoor.js";

afterEach(closeAll);

/** `/metrics/otel`'s JSON, as far as the test reads it. */
interface OtelPage {
  readonly errors: string[];
  readonly scopes: {
    readonly name: string;
    readonly metrics: {
      readonly name: string;
      readonly unit: string;
      readonly points: {
        readonly attributes: Record<string, unknown>;
        readonly value?: number;
        readonly count?: number;
        readonly sum?: number | null;
      }[];
    }[];
  }[];
}

describe("the admin listener", () => {
  it("serves metrics, the live page and live.json, which the MM7 port does not", async () => {
    const { gateway } = await startGateway();
    expect((await submit(gateway, 1)).status).toBe(200);
    for (const route of ["/metrics", "/live.json", "/"]) {
      const onMm7Port = await fetch(`${gateway.url}${route}`);
      expect([route, onMm7Port.status]).toEqual([route, 404]);
      await onMm7Port.body?.cancel();
    }
    const metrics = await fetch(`${gateway.adminUrl}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('mm7_submissions_total{result="accepted",status="1000"} 1');
    expect(text).toMatch(/mm7_connections\{state="open"\} \d+/);
    expect(text).toContain('mm7_connections_closed_total{reason="evicted"} 0');
    expect(text).toContain("mm7_body_bytes_in_flight 0");
    const live = await fetch(`${gateway.adminUrl}/live.json`);
    // The synchronizer's state, from its xstate inspection events; it took the submission.
    const view = (await live.json()) as {
      state: string;
      machineEvents: number;
      arrowCounts: Record<string, number>;
      stateEntries: Record<string, number>;
    };
    expect(view).toMatchObject({ messages: expect.any(Object), records: 1 });
    expect(Object.keys(synchronizerMachine.root.states)).toContain(view.state);
    expect(view.machineEvents).toBeGreaterThan(0);
    // Counted from the microsteps: the choices the machine passed through, not only its rests.
    expect(view.arrowCounts["receiving>decidingFlush"]).toBeGreaterThan(0);
    expect(Object.keys(view.arrowCounts).some((arrow) => arrow.startsWith("decidingFlush>"))).toBe(
      true,
    );
    expect(view.stateEntries.decidingFlush).toBeGreaterThan(0);
    const page = await (await fetch(`${gateway.adminUrl}/`)).text();
    expect(page).toContain("<title>Spool MMS gateway</title>");
    // The chart of the machine that runs, every state on it.
    for (const state of Object.keys(synchronizerMachine.root.states)) {
      expect(page).toContain(`data-state="${state}"`);
    }
  });

  it("serves the spools' OpenTelemetry metrics as JSON on /metrics/otel", async () => {
    const { gateway } = await startGateway();
    expect((await submit(gateway, 1)).status).toBe(200);
    const onMm7Port = await fetch(`${gateway.url}/metrics/otel`);
    expect(onMm7Port.status).toBe(404);
    await onMm7Port.body?.cancel();
    const response = await fetch(`${gateway.adminUrl}/metrics/otel`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    const collected = (await response.json()) as OtelPage;
    expect(collected.errors).toEqual([]);
    const scope = collected.scopes.find(({ name }) => name === SPOOL_METER_NAME);
    const metrics = new Map(scope?.metrics.map((metric) => [metric.name, metric]));
    // Every instrument has points: the batch ones from the submission's batch, the observed
    // ones from the collection.
    expect([...metrics.keys()].sort()).toEqual(Object.values(INSTRUMENT_NAMES).sort());
    const ofMessages = (name: string) =>
      metrics.get(name)!.points.filter((point) => point.attributes["spool.name"] === "messages");
    // The submission: one measured append, flushed, in one batch of one record.
    const [append] = ofMessages(INSTRUMENT_NAMES.appendDuration);
    expect(append).toMatchObject({
      attributes: { "spool.name": "messages", "spool.durability": "flushed" },
      count: 1,
    });
    expect(metrics.get(INSTRUMENT_NAMES.appendDuration)?.unit).toBe("ms");
    const records = ofMessages(INSTRUMENT_NAMES.batchRecords);
    expect(records.reduce((sum, point) => sum + (point.sum ?? 0), 0)).toBe(1);
    const flushes = ofMessages(INSTRUMENT_NAMES.flushes);
    expect(flushes.reduce((sum, point) => sum + (point.value ?? 0), 0)).toBe(1);
    const states = ofMessages(INSTRUMENT_NAMES.messages).map(
      (p) => p.attributes["spool.message.state"],
    );
    expect(states.sort()).toEqual(["dead", "leased", "queued", "retryWait"]);
  });

  it("listens on loopback on a port of its own unless told otherwise", async () => {
    const { gateway } = await startGateway();
    expect(gateway.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(gateway.adminUrl).port).not.toBe(new URL(gateway.url).port);
  });
});

describe("the MM7 port", () => {
  it("answers MM7 and health only: any other path is 404, a wrong method 405", async () => {
    const { gateway } = await startGateway();
    const answers: [string, string, number][] = [
      ["GET", "/health", 200],
      ["GET", "/nothing-here", 404],
      ["POST", "/metrics", 404],
      ["GET", "/mm7", 405],
      ["DELETE", "/mm7/messages/x", 405],
    ];
    for (const [method, route, code] of answers) {
      const response = await fetch(`${gateway.url}${route}`, { method });
      await response.body?.cancel();
      expect([method, route, response.status]).toEqual([method, route, code]);
    }
  });
});

/** A port on loopback held by another listener, closed after the test. */
async function takenPort(): Promise<number> {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => holder.close(() => resolve())));
  return (holder.address() as net.AddressInfo).port;
}

/** The options of a gateway in a fresh directory, forwarding to a sink. */
async function gatewayOptions(): Promise<GatewayOptions> {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-ports-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const sink = await openSink();
  closers.push(() => sink.close());
  const vasps = [{ vaspId: "acme", password: "s3cret", reportUrl: null }];
  return { dir, host: "127.0.0.1", vasps, recipientUrl: sink.deliverUrl };
}

describe("a port that is taken", () => {
  it("makes openGateway reject naming the admin listener, and releases the spools", async () => {
    const options = await gatewayOptions();
    const admin = { host: "127.0.0.1", port: await takenPort() };
    await expect(openGateway({ ...options, admin })).rejects.toThrow(
      /admin listener cannot listen: .*EADDRINUSE/,
    );
    const gateway = await openGateway(options);
    closers.push(() => gateway.close());
    expect((await submit(gateway, 1)).status).toBe(200);
  });

  it("makes openGateway reject naming the MM7 port, and releases the spools", async () => {
    const options = await gatewayOptions();
    const port = await takenPort();
    await expect(openGateway({ ...options, port })).rejects.toThrow(
      /MM7 port cannot listen: .*EADDRINUSE/,
    );
    const gateway = await openGateway(options);
    closers.push(() => gateway.close());
    expect((await submit(gateway, 1)).status).toBe(200);
  });
});

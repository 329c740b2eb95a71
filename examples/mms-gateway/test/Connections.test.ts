import * as http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { Gateway } from "../src/Gateway.js";
import {
  ACME,
  closeAll,
  closers,
  connect,
  postHead,
  type RawConnection,
  startGateway,
  statusCodeIn,
  submit,
  submitRequest,
  until,
} from "./harness/FrontDoor.js";

afterEach(closeAll);

/** Writes `text` one byte at a time (every `everyMs`) until the gateway closes the connection. */
async function drip(connection: RawConnection, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  while (sent < text.length && !connection.isClosed()) {
    connection.socket.write(text[sent]!);
    sent += 1;
    await Promise.race([new Promise((resolve) => setTimeout(resolve, everyMs)), connection.closed]);
  }
  return sent;
}

/** `count` connections that send nothing, opened one after another (oldest first). */
async function idleConnections(gateway: Gateway, count: number, localAddress?: string) {
  const connections: RawConnection[] = [];
  for (let n = 0; n < count; n += 1) connections.push(await connect(gateway, localAddress));
  return connections;
}

/** Submits message `n` through `agent` (a keep-alive connection); the local port it used. */
function submitThrough(agent: http.Agent, gateway: Gateway, n: number) {
  const { contentType, body } = submitRequest(n);
  return new Promise<{ status: number; text: string; localPort: number }>((resolve, reject) => {
    const request = http.request(`${gateway.url}/mm7`, {
      method: "POST",
      agent,
      headers: { "content-type": contentType, authorization: ACME, "content-length": body.length },
    });
    request.on("error", reject);
    request.on("response", (response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      response.on("end", () =>
        resolve({ status: response.statusCode!, text, localPort: request.socket!.localPort! }),
      );
    });
    request.end(body);
  });
}

function keepAliveAgent(maxSockets: number): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  closers.push(async () => agent.destroy());
  return agent;
}

describe("timeouts at the front door", () => {
  it("a connection sending its headers a byte at a time is closed within the header timeout", async () => {
    const { gateway } = await startGateway({
      connections: { headersTimeoutMs: 500, requestTimeoutMs: 2_000 },
    });
    const slowloris = await connect(gateway);
    // Headers that never end: sixty seconds of them at this pace.
    const head = `POST /mm7 HTTP/1.1\r\nHost: gateway\r\nX-Padding: ${"a".repeat(600)}`;
    const sent = await drip(slowloris, head, 100);
    await until(slowloris.isClosed, "the slowloris to be closed");
    expect(sent).toBeLessThan(head.length);
    expect(slowloris.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it("a connection that sends nothing is closed within the header timeout", async () => {
    const { gateway } = await startGateway({
      connections: { headersTimeoutMs: 500, requestTimeoutMs: 2_000 },
    });
    const idle = await connect(gateway);
    await until(idle.isClosed, "the idle connection to be closed");
    expect(gateway.admission.counts().open).toBe(0);
  });

  it("a body that stops arriving is closed after the body-idle timeout, and its memory share returned", async () => {
    const { gateway } = await startGateway({ connections: { bodyIdleTimeoutMs: 300 } });
    const stalled = await connect(gateway);
    stalled.socket.write(`${postHead(1000, ACME)}0123456789`);
    await until(stalled.isClosed, "the stalled body's connection to be closed");
    await until(() => gateway.inFlight.bodyBytes === 0, "the share to be returned");
    expect(gateway.messages.stats().records).toBe(0);
  });

  it("a body arriving a byte at a time is closed at the request timeout", async () => {
    const { gateway } = await startGateway({
      connections: { headersTimeoutMs: 300, requestTimeoutMs: 1_000, bodyIdleTimeoutMs: 5_000 },
    });
    const slow = await connect(gateway);
    slow.socket.write(postHead(600, ACME));
    const sent = await drip(slow, "a".repeat(600), 50);
    await until(slow.isClosed, "the slow body's connection to be closed");
    expect(sent).toBeLessThan(600);
    await until(() => gateway.inFlight.bodyBytes === 0, "the share to be returned");
  });
});

/**
 * Idle connections that only the caps may close while a test looks at them, however slow the
 * machine (the header timeout closes idle connections too).
 */
const LONG_HEADERS_TIMEOUT = { headersTimeoutMs: 60_000 };

/**
 * Pipelines authenticated status queries on `connection` without reading the answers, as fast as
 * the gateway takes them, until it closes the connection or `batchCount` batches are sent.
 */
async function pipelineUnread(connection: RawConnection, batchCount: number): Promise<void> {
  connection.socket.pause();
  const query = `GET /mm7/messages/none HTTP/1.1\r\nHost: gateway\r\nAuthorization: ${ACME}\r\n\r\n`;
  const batch = query.repeat(1_000);
  for (let sent = 0; sent < batchCount && !connection.isClosed(); sent += 1) {
    if (!connection.socket.write(batch)) {
      await Promise.race([
        new Promise((resolve) => connection.socket.once("drain", resolve)),
        connection.closed,
      ]);
    }
  }
}

describe("answers a client does not read", () => {
  it("an authenticated client that stops reading its answers is closed after the response timeout", async () => {
    // Headers and requests get 120 s: only the response timeout can close it while the test
    // looks (Node's header timeout may catch a request it had begun to parse when it paused).
    const { gateway } = await startGateway({
      connections: { responseTimeoutMs: 500, headersTimeoutMs: 120_000, requestTimeoutMs: 120_000 },
    });
    const reader = await connect(gateway);
    // 200,000 queries: their answers (about 40 MB) are more than the sockets' buffers hold.
    const writing = pipelineUnread(reader, 200);
    await until(reader.isClosed, "the gateway to close the connection", 60_000);
    await writing;
    expect(gateway.admission.counts().unauthenticated).toBe(0);
    await until(() => gateway.admission.counts().open === 0, "the gateway to forget it");
  }, 180_000);
});

describe("connection caps", () => {
  it("through 400 idle connections with openCountMax 300, a VASP's submission is accepted", async () => {
    const { gateway } = await startGateway({
      connections: { openCountMax: 300, perAddressCountMax: 1000, ...LONG_HEADERS_TIMEOUT },
    });
    const flood = await idleConnections(gateway, 400);
    // The newest took the places of the oldest.
    await until(() => flood.slice(0, 100).every((c) => c.isClosed()), "the oldest 100 to go");
    expect(flood.slice(100).some((connection) => connection.isClosed())).toBe(false);
    const answer = await submit(gateway, 1);
    expect(answer.status).toBe(200);
    expect(statusCodeIn(answer.text)).toBe(1000);
    expect(gateway.admission.counts().open).toBeLessThanOrEqual(300);
    expect(gateway.admission.counts().evicted).toBeGreaterThanOrEqual(101);
  });

  it("an authenticated connection is kept through a flood of strangers", async () => {
    const { gateway } = await startGateway({
      connections: { openCountMax: 50, perAddressCountMax: 1000, keepAliveTimeoutMs: 60_000 },
    });
    const agent = keepAliveAgent(1);
    const first = await submitThrough(agent, gateway, 1);
    const flood = await idleConnections(gateway, 100);
    await until(() => flood.filter((c) => c.isClosed()).length >= 51, "strangers to be evicted");
    const second = await submitThrough(agent, gateway, 2);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.localPort).toBe(first.localPort);
  });

  it("when every connection is authenticated, a newcomer is closed at once", async () => {
    const { gateway } = await startGateway({
      connections: { openCountMax: 2, keepAliveTimeoutMs: 60_000 },
    });
    const agent = keepAliveAgent(2);
    const answers = await Promise.all([1, 2].map((n) => submitThrough(agent, gateway, n)));
    expect(new Set(answers.map((answer) => answer.localPort)).size).toBe(2);
    const newcomer = await connect(gateway);
    await until(newcomer.isClosed, "the newcomer to be closed");
    expect(newcomer.received()).toBe("");
    expect(gateway.admission.counts()).toMatchObject({ open: 2, refused: 1, evicted: 0 });
  });

  it("the per-address cap evicts the longest-idle connection of that address only", async () => {
    const { gateway } = await startGateway({
      connections: { perAddressCountMax: 3, ...LONG_HEADERS_TIMEOUT },
    });
    const first = await idleConnections(gateway, 3, "127.0.0.1");
    const second = await idleConnections(gateway, 4, "127.0.0.2");
    await until(second[0]!.isClosed, "the oldest of 127.0.0.2 to be evicted");
    expect(first.some((connection) => connection.isClosed())).toBe(false);
    expect(second.slice(1).some((connection) => connection.isClosed())).toBe(false);
    expect(gateway.admission.counts()).toMatchObject({ open: 6, evicted: 1 });
  });

  it("the unauthenticated cap makes room for a VASP by closing the longest-idle stranger", async () => {
    const { gateway } = await startGateway({
      connections: { unauthenticatedCountMax: 5, ...LONG_HEADERS_TIMEOUT },
    });
    const strangers = await idleConnections(gateway, 5);
    const answer = await submit(gateway, 1);
    expect(answer.status).toBe(200);
    await until(strangers[0]!.isClosed, "the longest-idle stranger to be closed");
    expect(strangers.slice(1).some((connection) => connection.isClosed())).toBe(false);
    expect(gateway.admission.counts().unauthenticated).toBe(4);
  });
});

describe("closing the gateway", () => {
  it("answers every submission it stored: none is cut between its append and its answer", async () => {
    const { gateway } = await startGateway();
    const submissions = Array.from({ length: 40 }, (_, n) => submit(gateway, n).catch(() => null));
    // Some stored, more on their way: the close comes while appends are in progress.
    await until(() => gateway.messages.stats().records >= 5, "the first submissions stored");
    await gateway.close();
    const answers = await Promise.all(submissions);
    const accepted = answers.filter((answer) => answer?.status === 200).length;
    expect(gateway.messages.stats().records).toBe(accepted);
  });
});

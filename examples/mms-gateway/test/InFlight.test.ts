import { afterEach, describe, expect, it } from "vitest";
import type { Gateway } from "../src/Gateway.js";
import {
  ACME,
  BETA,
  closeAll,
  connect,
  postHead,
  type RawConnection,
  startGateway,
  statusCodeIn,
  submit,
  submitRequest,
  until,
  upload,
} from "./harness/FrontDoor.js";

afterEach(closeAll);

const HUNDRED_MB = 100 * 1024 * 1024;

/**
 * Held bodies stall on purpose: a body-idle timeout of 60 s (not the default 10 s) keeps them
 * held while the test looks, however slow the machine, so their shares are never returned early.
 */
const HOLDING = { bodyIdleTimeoutMs: 60_000 };

/**
 * Bodies the gateway has begun to read and waits on: each has sent its headers and a few bytes
 * of `contentLength`, and holds its share of memory until its connection closes.
 */
async function heldBodies(
  gateway: Gateway,
  count: number,
  contentLength: number,
  authorization = ACME,
): Promise<RawConnection[]> {
  const before = gateway.inFlight.bodyBytes;
  const held: RawConnection[] = [];
  for (let n = 0; n < count; n += 1) {
    const connection = await connect(gateway);
    connection.socket.write(`${postHead(contentLength, authorization)}<?xml`);
    held.push(connection);
  }
  const reserved = before + count * contentLength;
  await until(() => gateway.inFlight.bodyBytes === reserved, `${count} bodies to be reserved`);
  return held;
}

describe("a refused upload is not read to its end", () => {
  it("an unauthenticated 100 MB upload is answered 401 and its connection closed", async () => {
    const { gateway } = await startGateway();
    const sent = await upload(gateway, postHead(HUNDRED_MB), HUNDRED_MB);
    expect(sent.closedByGateway).toBe(true);
    expect(sent.sentBytes).toBeLessThan(HUNDRED_MB / 2);
    expect(sent.received).toMatch(/^HTTP\/1\.1 401/);
    expect(sent.received.toLowerCase()).toContain("connection: close");
    expect(statusCodeIn(sent.received)).toBe(4001);
  });

  it("a 100 MB upload over bodyByteSizeMax is refused from its Content-Length and closed", async () => {
    const { gateway } = await startGateway();
    const sent = await upload(gateway, postHead(HUNDRED_MB, ACME), HUNDRED_MB);
    expect(sent.closedByGateway).toBe(true);
    expect(sent.sentBytes).toBeLessThan(HUNDRED_MB / 2);
    expect(sent.received).toMatch(/^HTTP\/1\.1 500/);
    expect(statusCodeIn(sent.received)).toBe(2004);
    expect(sent.received).toContain("bodyByteSizeMax");
  });

  it("a chunked upload is refused (2004) once it passes bodyByteSizeMax, and closed", async () => {
    const { gateway } = await startGateway({ limits: { bodyByteSizeMax: 100_000 } });
    const chunk = Buffer.from(`${(64 * 1024).toString(16)}\r\n${"a".repeat(64 * 1024)}\r\n`);
    const head = postHead(0, ACME).replace("Content-Length: 0", "Transfer-Encoding: chunked");
    // 100 MB of chunks, as fast as the gateway takes them.
    const sent = await upload(gateway, head, chunk.byteLength * 1600, chunk);
    expect(sent.sentBytes).toBeLessThan(chunk.byteLength * 800);
    expect(sent.closedByGateway).toBe(true);
    expect(sent.received).toMatch(/^HTTP\/1\.1 500/);
    expect(statusCodeIn(sent.received)).toBe(2004);
    await until(() => gateway.inFlight.bodyBytes === 0, "the share to be returned");
  });

  it("an upload told to retry later is closed without its body being read", async () => {
    const big = 128 * 1024 * 1024;
    const { gateway } = await startGateway({
      limits: { bodyByteSizeMax: big },
      inFlight: { bodyBytesMax: big },
      connections: HOLDING,
    });
    await heldBodies(gateway, 1, HUNDRED_MB);
    const sent = await upload(gateway, postHead(HUNDRED_MB, ACME), HUNDRED_MB);
    expect(sent.closedByGateway).toBe(true);
    expect(sent.sentBytes).toBeLessThan(HUNDRED_MB / 2);
    expect(sent.received).toMatch(/^HTTP\/1\.1 503/);
    expect(statusCodeIn(sent.received)).toBe(4006);
  });
});

describe("Expect: 100-continue", () => {
  const head = (body: Buffer, contentType: string, authorization?: string) =>
    postHead(body.length, authorization)
      .replace("Content-Type: text/xml", `Content-Type: ${contentType}`)
      .replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");

  it("a refused body is never asked for: the refusal comes instead of 100 Continue", async () => {
    const { gateway } = await startGateway();
    const { contentType, body } = submitRequest(1);
    const stranger = await connect(gateway);
    stranger.socket.write(head(body, contentType));
    await until(stranger.isClosed, "the refusal and the close");
    expect(stranger.received()).toMatch(/^HTTP\/1\.1 401/);
    expect(stranger.received()).not.toContain("100 Continue");
  });

  it("an accepted body is asked for with 100 Continue once it is to be read", async () => {
    const { gateway } = await startGateway();
    const { contentType, body } = submitRequest(1);
    const vasp = await connect(gateway);
    vasp.socket.write(head(body, contentType, ACME));
    await until(() => vasp.received().startsWith("HTTP/1.1 100 Continue"), "100 Continue");
    vasp.socket.write(body);
    await until(() => vasp.received().includes("</env:Envelope>"), "the SubmitRsp");
    expect(vasp.received()).toContain("HTTP/1.1 200 OK");
    expect(statusCodeIn(vasp.received())).toBe(1000);
  });
});

describe("memory held by submissions in progress", () => {
  it("with room for 40 bodies in flight, the 41st is told to retry later and nothing is stored", async () => {
    const { gateway } = await startGateway({
      limits: { bodyByteSizeMax: 100_000 },
      // One VASP may hold more than all here: the bound on all submissions is what is tested.
      inFlight: { bodyBytesMax: 40 * 100_000, vaspBodyBytesMax: 41 * 100_000 },
      connections: HOLDING,
    });
    const held = await heldBodies(gateway, 40, 100_000);
    const busy = await submit(gateway, 41);
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("1");
    expect(busy.headers.get("connection")).toBe("close");
    expect(statusCodeIn(busy.text)).toBe(4006);
    expect(busy.text).toMatch(/busy: bodyBytesMax \(4000000\) reached; retry later/);
    expect(gateway.inFlight.bodyBytes).toBe(4_000_000);
    expect(gateway.messages.stats().records).toBe(0);
    for (const connection of held) connection.socket.destroy();
    await until(() => gateway.inFlight.bodyBytes === 0, "the held shares to be returned");
    expect((await submit(gateway, 42)).status).toBe(200);
  });

  it("a VASP over vaspSubmissionCountMax is told to retry later while another VASP is served", async () => {
    const { gateway } = await startGateway({
      inFlight: { vaspSubmissionCountMax: 2 },
      connections: HOLDING,
    });
    await heldBodies(gateway, 2, 1000, ACME);
    const busy = await submit(gateway, 3, ACME);
    expect(busy.status).toBe(503);
    expect(statusCodeIn(busy.text)).toBe(4006);
    expect(busy.text).toContain("vaspSubmissionCountMax");
    const other = await submit(gateway, 4, BETA);
    expect(other.status).toBe(200);
    expect(statusCodeIn(other.text)).toBe(1000);
  });

  it("a VASP holding its share of the body bytes is told to retry later, another VASP is served", async () => {
    const { gateway } = await startGateway({
      limits: { bodyByteSizeMax: 100_000 },
      // vaspBodyBytesMax is half of it by default: 200,000.
      inFlight: { bodyBytesMax: 400_000 },
      connections: HOLDING,
    });
    await heldBodies(gateway, 2, 100_000, ACME);
    const busy = await submit(gateway, 3, ACME);
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("1");
    expect(statusCodeIn(busy.text)).toBe(4006);
    expect(busy.text).toMatch(/busy: vaspBodyBytesMax \(200000\) reached; retry later/);
    const other = await submit(gateway, 4, BETA);
    expect(other.status).toBe(200);
    expect(statusCodeIn(other.text)).toBe(1000);
  });

  it("a vaspBodyBytesMax below bodyByteSizeMax is refused when the gateway opens", async () => {
    await expect(
      startGateway({
        limits: { bodyByteSizeMax: 100_000 },
        inFlight: { vaspBodyBytesMax: 99_999 },
      }),
    ).rejects.toThrow(/vaspBodyBytesMax \(99999\) < bodyByteSizeMax/);
  });

  it("a chunked body within bodyByteSizeMax is read whole and stored", async () => {
    const { gateway } = await startGateway();
    const { contentType, body } = submitRequest(1);
    const vasp = await connect(gateway);
    const half = Math.floor(body.length / 2);
    const chunk = (bytes: Buffer) =>
      Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n")]);
    vasp.socket.write(
      postHead(0, ACME)
        .replace("Content-Length: 0", "Transfer-Encoding: chunked")
        .replace("Content-Type: text/xml", `Content-Type: ${contentType}`),
    );
    vasp.socket.write(chunk(body.subarray(0, half)));
    vasp.socket.write(Buffer.concat([chunk(body.subarray(half)), Buffer.from("0\r\n\r\n")]));
    await until(() => vasp.received().includes("</env:Envelope>"), "the SubmitRsp");
    expect(statusCodeIn(vasp.received())).toBe(1000);
    expect(gateway.messages.stats().records).toBe(1);
  });

  it("a body without a Content-Length holds bodyByteSizeMax of the bound", async () => {
    const { gateway } = await startGateway({
      limits: { bodyByteSizeMax: 100_000 },
      inFlight: { bodyBytesMax: 100_500 },
      connections: HOLDING,
    });
    const chunked = await connect(gateway);
    chunked.socket.write(
      "POST /mm7 HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/xml\r\n" +
        `Authorization: ${ACME}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<?xml\r\n`,
    );
    await until(() => gateway.inFlight.bodyBytes === 100_000, "the chunked body's share");
    const busy = await submit(gateway, 1);
    expect(busy.status).toBe(503);
    chunked.socket.destroy();
    await until(() => gateway.inFlight.bodyBytes === 0, "the share to be returned");
    expect((await submit(gateway, 2)).status).toBe(200);
  });
});

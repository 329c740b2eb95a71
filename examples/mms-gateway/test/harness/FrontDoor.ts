/**
 * What the front-door tests share: a gateway with a sink in a temporary directory, submissions
 * by fetch, and raw sockets for what a well-behaved client would never send (idle connections,
 * a header byte at a time, a body that stops, an upload the gateway refuses).
 */
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type Gateway, type GatewayOptions, openGateway } from "../../src/Gateway.js";
import { openSink, type Sink } from "../../src/Sink.js";
import { basicAuthorization, submissionBody } from "../../src/Submission.js";

/** Run last first after each test: the gateway before its sink before its directory. */
export const closers: (() => Promise<void>)[] = [];

export async function closeAll(): Promise<void> {
  for (const close of closers.splice(0).reverse()) await close();
}

export const ACME = basicAuthorization("acme", "s3cret");
export const BETA = basicAuthorization("beta", "pw");

/** A gateway forwarding to a sink, both closed by {@link closeAll}. */
export async function startGateway(
  options: Partial<GatewayOptions> = {},
): Promise<{ gateway: Gateway; sink: Sink }> {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-front-door-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const sink = await openSink();
  closers.push(() => sink.close());
  const gateway = await openGateway({
    dir,
    vasps: [
      { vaspId: "acme", password: "s3cret", reportUrl: null },
      { vaspId: "beta", password: "pw", reportUrl: null },
    ],
    recipientUrl: sink.deliverUrl,
    ...options,
  });
  closers.push(() => gateway.close());
  return { gateway, sink };
}

/** A small SubmitReq as `vaspId` would send it. */
export function submitRequest(n: number, vaspId = "acme") {
  return submissionBody({
    transactionId: `tx-${n}`,
    vaspId,
    recipients: ["447700900123"],
    attachments: [{ contentType: "text/plain", contentId: "a.txt", bytes: Buffer.from(`${n}`) }],
  });
}

/** Submits message `n` by fetch (a connection of its own or a pooled one). */
export async function submit(gateway: Gateway, n: number, authorization = ACME) {
  const vaspId = authorization === BETA ? "beta" : "acme";
  const { contentType, body } = submitRequest(n, vaspId);
  const response = await fetch(`${gateway.url}/mm7`, {
    method: "POST",
    headers: { "content-type": contentType, authorization, soapaction: '""' },
    body,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

export const statusCodeIn = (xml: string) =>
  Number(/<StatusCode>(\d+)<\/StatusCode>/.exec(xml)?.[1]);

/** Polls `condition` until it holds; a deadline for a loaded machine, not a target. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A raw connection, and whether (and when) the gateway closed it. */
export interface RawConnection {
  readonly socket: net.Socket;
  /** What the gateway wrote on it. */
  received(): string;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

/** Connects to the gateway's MM7 port (from `localAddress`, 127.0.0.1 by default). */
export async function connect(gateway: Gateway, localAddress?: string): Promise<RawConnection> {
  const { hostname, port } = new URL(gateway.url);
  const socket = net.connect({ host: hostname, port: Number(port), localAddress });
  closers.push(async () => void socket.destroy());
  let text = "";
  let closed = false;
  socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
  socket.on("error", () => {});
  const closing = new Promise<void>((resolve) =>
    socket.once("close", () => {
      closed = true;
      resolve();
    }),
  );
  await Promise.race([new Promise((resolve) => socket.once("connect", resolve)), closing]);
  return { socket, received: () => text, closed: closing, isClosed: () => closed };
}

/** Request headers of a `POST /mm7` with a body of `contentLength` bytes. */
export function postHead(contentLength: number, authorization?: string): string {
  const lines = [
    "POST /mm7 HTTP/1.1",
    "Host: gateway",
    "Content-Type: text/xml",
    `Content-Length: ${contentLength}`,
  ];
  if (authorization !== undefined) lines.push(`Authorization: ${authorization}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/**
 * Sends `head` then up to `byteSize` body bytes (`chunk` again and again) as fast as the gateway
 * takes them; resolves once the gateway closed the connection or every byte was sent, with how
 * many were.
 */
export async function upload(
  gateway: Gateway,
  head: string,
  byteSize: number,
  chunk = Buffer.alloc(64 * 1024, 0x61),
): Promise<{ sentBytes: number; closedByGateway: boolean; received: string }> {
  const connection = await connect(gateway);
  let sentBytes = 0;
  connection.socket.write(head);
  while (sentBytes < byteSize && !connection.isClosed()) {
    const part = chunk.subarray(0, Math.min(chunk.byteLength, byteSize - sentBytes));
    sentBytes += part.byteLength;
    if (!connection.socket.write(part)) {
      await Promise.race([
        new Promise((resolve) => connection.socket.once("drain", resolve)),
        connection.closed,
      ]);
    }
  }
  const closedByGateway = connection.isClosed();
  connection.socket.destroy();
  return { sentBytes, closedByGateway, received: connection.received() };
}

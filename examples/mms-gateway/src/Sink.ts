/**
 * A recipient for `npm start` and the tests: takes forwarded messages (`POST /deliver`) and
 * delivery reports (`POST /reports`) on loopback, and tells what it got (`GET /stats`). It can
 * be told to fail: every delivery (`failAll`), those to a recipient address (`failRecipient`),
 * with a chosen answer (`answer`, changeable while it runs), or by refusing connections
 * (`refuseConnections`, until `acceptConnections`). It keeps the headers and recipients of
 * each delivery.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface SinkOptions {
  readonly host?: string;
  readonly port?: number;
  /** Answer 503 to every delivery. */
  readonly failAll?: boolean;
  /** Answer 503 to deliveries naming this recipient. */
  readonly failRecipient?: string;
  /** Answer deliveries only after this long (a slow recipient). */
  readonly delayMs?: number;
  /** Answer deliveries only once this settles (a recipient that answers when a test says so). */
  readonly hold?: Promise<void>;
  /** Answer every delivery with this (503 for `failAll` and `failRecipient`). */
  readonly answer?: SinkAnswer;
}

/** How the sink answers a delivery it refuses: a status, and Retry-After or Location if given. */
export interface SinkAnswer {
  readonly status: number;
  readonly retryAfter?: string;
  /** A Location header (for a 3xx). */
  readonly location?: string;
}

export interface SinkStats {
  /** Deliveries taken (duplicates counted). */
  readonly delivered: number;
  /** Distinct MessageIDs taken. */
  readonly distinct: number;
  readonly refused: number;
  readonly reports: number;
}

export interface Sink {
  readonly url: string;
  readonly deliverUrl: string;
  readonly reportUrl: string;
  /** MessageID → times delivered. */
  readonly received: ReadonlyMap<string, number>;
  /** The DeliveryReportReq bodies received, in order. */
  readonly reports: readonly string[];
  /** MessageID → the headers of its last delivery taken. */
  readonly headers: ReadonlyMap<string, http.IncomingHttpHeaders>;
  /** MessageID → the recipients of its last delivery taken (the body's first part). */
  readonly recipients: ReadonlyMap<string, readonly string[]>;
  /** Answers deliveries with `answer` from now on; null takes them again. */
  answerWith(answer: SinkAnswer | null): void;
  /** Stops listening (connections are refused) until {@link Sink.acceptConnections}. */
  refuseConnections(): Promise<void>;
  /** Listens again, on the same port. */
  acceptConnections(): Promise<void>;
  stats(): SinkStats;
  /** Deliveries read and not answered yet: waiting for `hold` or `delayMs`. */
  held(): number;
  close(): Promise<void>;
}

export async function openSink(options: SinkOptions = {}): Promise<Sink> {
  const received = new Map<string, number>();
  const reports: string[] = [];
  const headers = new Map<string, http.IncomingHttpHeaders>();
  const recipientsOf = new Map<string, readonly string[]>();
  let answer: SinkAnswer | null = options.answer ?? null;
  let delivered = 0;
  let refused = 0;
  let held = 0;
  const stats = (): SinkStats => ({
    delivered,
    distinct: received.size,
    refused,
    reports: reports.length,
  });
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const reply = (code: number, body: string) => {
        response.writeHead(code, { "content-type": "application/json" });
        response.end(body);
      };
      if (request.method === "GET" && request.url === "/stats") {
        reply(200, JSON.stringify(stats()));
        return;
      }
      if (request.method === "POST" && request.url === "/reports") {
        reports.push(Buffer.concat(chunks).toString("utf8"));
        reply(200, "{}");
        return;
      }
      if (request.method !== "POST" || request.url !== "/deliver") {
        reply(404, "{}");
        return;
      }
      const recipients = recipientsIn(Buffer.concat(chunks), request.headers["content-type"]);
      const failing =
        options.failAll === true ||
        (options.failRecipient !== undefined && recipients.includes(options.failRecipient));
      if (failing || answer !== null) {
        refused += 1;
        const { status, retryAfter, location } = answer ?? { status: 503 };
        if (retryAfter !== undefined) response.setHeader("retry-after", retryAfter);
        if (location !== undefined) response.setHeader("location", location);
        reply(status, '{"error":"recipient unavailable"}');
        return;
      }
      const messageId = String(request.headers["x-mms-message-id"]);
      held += 1;
      const take = () => {
        held -= 1;
        received.set(messageId, (received.get(messageId) ?? 0) + 1);
        headers.set(messageId, request.headers);
        recipientsOf.set(messageId, recipients);
        delivered += 1;
        reply(200, "{}");
      };
      if (options.hold !== undefined) void options.hold.then(take);
      else if (options.delayMs === undefined) take();
      else setTimeout(take, options.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host, resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.host ?? "127.0.0.1"}:${port}`;
  const stopListening = async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  };
  return {
    url,
    deliverUrl: `${url}/deliver`,
    reportUrl: `${url}/reports`,
    received,
    reports,
    headers,
    recipients: recipientsOf,
    stats,
    held: () => held,
    answerWith(next) {
      answer = next;
    },
    refuseConnections: stopListening,
    async acceptConnections() {
      await new Promise<void>((resolve) => server.listen(port, options.host, resolve));
    },
    async close() {
      if (server.listening) await stopListening();
    },
  };
}

/**
 * The recipients a forward names: its body's first part, one address a line (`Forward.ts`).
 * Empty when the body is not such a multipart.
 */
export function recipientsIn(body: Buffer, contentType: string | undefined): string[] {
  const boundary = /boundary="([^"]+)"/.exec(contentType ?? "")?.[1];
  if (boundary === undefined) return [];
  const start = body.indexOf("\r\n\r\n", body.indexOf(`--${boundary}\r\n`));
  const end = body.indexOf(`\r\n--${boundary}`, start);
  if (start < 0 || end < 0) return [];
  return body
    .subarray(start + 4, end)
    .toString("ascii")
    .split("\r\n");
}

/**
 * The MMS gateway: an HTTP service taking MM7 SubmitReq from authenticated VASPs, storing each
 * message durably in Spool before answering SubmitRsp (claims 4, 20, 57: stored before it is
 * accepted), forwarding with retries (`Delivery.ts`), and answering status queries, health,
 * metrics and a live view of the synchronizer.
 *
 * Routes: `POST /mm7` (SubmitReq), `GET /mm7/messages/<MessageID>` (status, JSON),
 * `GET /health`, `GET /metrics`, `GET /` (live page) and `GET /live.json`.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { type MessageState, openSpool, type Spool } from "@spool/actors";
import { ATTEMPTS_MAX, DEFAULT_DELIVERY, Delivery, type DeliveryOptions } from "./Delivery.js";
import { HandlerThreads } from "./HandlerThreads.js";
import { DEFAULT_LIMITS, type GatewayLimits, LimitExceeded } from "./Limits.js";
import { livePage } from "./LivePage.js";
import { type MessageIds, messageIds } from "./MessageIds.js";
import { gatewayMetrics, type Metrics } from "./Metrics.js";
import { faultResponse, Mm7Fault, STATUS, submitResponse } from "./Mm7.js";
import {
  type Accepted,
  acceptSubmission,
  asRefused,
  Refused,
  type SubmissionInput,
} from "./Submit.js";
import { authenticate, type Vasp } from "./Vasps.js";

/** Options of {@link openGateway}. @example { dir: "./spool-data", vasps, recipientUrl } */
export interface GatewayOptions {
  /** The gateway's spools live here (`messages/`, `reports/`). */
  readonly dir: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly vasps: readonly Vasp[];
  /** Where messages are forwarded (HTTP POST). */
  readonly recipientUrl: string;
  readonly limits?: Partial<GatewayLimits>;
  readonly delivery?: Partial<DeliveryOptions>;
  /**
   * Deliveries before a message becomes a dead letter: ATTEMPTS_MAX (65535, the most the spool
   * counts) by default, so a message fails only by its expiry or a permanent refusal.
   */
  readonly maxAttempts?: number;
  /** How long one forwarding attempt holds its message; Spool's 30 s by default. */
  readonly leaseMs?: number;
  /**
   * Worker threads that parse submissions and append them (through ports to the one spool);
   * 0, the default, does it in the HTTP thread. openGateway resolves once every thread has
   * connected its writer.
   */
  readonly handlerThreads?: number;
}

/** A running gateway. */
export interface Gateway {
  readonly url: string;
  readonly messages: Spool;
  readonly metrics: Metrics;
  /** The MessageID of the message `vaspId` submitted, stored under `seq`. */
  messageIdOf(seq: number, vaspId: string): string;
  /** Stops taking requests, lets forwards in flight finish, closes the spools. */
  close(): Promise<void>;
}

/** Opens the spools, starts forwarding and serves HTTP. */
export async function openGateway(options: GatewayOptions): Promise<Gateway> {
  const limits: GatewayLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const delivery: DeliveryOptions = { ...DEFAULT_DELIVERY, ...options.delivery };
  const maxAttempts = options.maxAttempts ?? ATTEMPTS_MAX;
  if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= ATTEMPTS_MAX)) {
    throw new RangeError(`maxAttempts must be a whole number from 1 to ${ATTEMPTS_MAX}`);
  }
  const messages = await openSpool({
    dir: path.join(options.dir, "messages"),
    maxAttempts,
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
  });
  const reports = await openSpool({
    dir: path.join(options.dir, "reports"),
    maxAttempts: ATTEMPTS_MAX,
  });
  const ids = await messageIds(options.dir);
  const metrics = gatewayMetrics(messages);
  const stopObserving = messages.onBatch(metrics.observeBatch);
  const forwarding = await Delivery.start({
    dir: options.dir,
    messages,
    reports,
    recipientUrl: options.recipientUrl,
    vasps: options.vasps,
    options: delivery,
    metrics,
    messageIdOf: ids.of,
  });
  const threads =
    (options.handlerThreads ?? 0) > 0
      ? new HandlerThreads(messages, options.handlerThreads!, limits)
      : undefined;
  // Listening only once every handler thread can take a submission.
  await threads?.ready;
  const writer = messages.writer("mm7");
  const handle = (input: SubmissionInput) =>
    threads !== undefined
      ? threads.submit(input)
      : acceptSubmission(input, limits, (record) => writer.append(record));
  const context: RequestContext = {
    options,
    limits,
    messages,
    handle,
    metrics,
    ids,
    forwarding,
  };
  const server = http.createServer((request, response) => {
    route(context, request, response).catch((error: unknown) => {
      if (response.headersSent) return;
      const fault = new Mm7Fault(STATUS.serverError, String(error), "Server");
      send(response, 500, 'text/xml; charset="utf-8"', faultResponse(fault));
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${address.port}`,
    messages,
    metrics,
    messageIdOf: ids.of,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      await threads?.close();
      await forwarding.stop();
      stopObserving();
      await messages.close();
      await reports.close();
    },
  };
}

interface RequestContext {
  readonly options: GatewayOptions;
  readonly limits: GatewayLimits;
  readonly messages: Spool;
  readonly handle: (input: SubmissionInput) => Promise<Accepted>;
  readonly metrics: Metrics;
  readonly ids: MessageIds;
  readonly forwarding: Delivery;
}

async function route(
  context: RequestContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? "/", "http://gateway");
  if (request.method === "POST" && url.pathname === "/mm7")
    return submit(context, request, response);
  if (request.method !== "GET") return send(response, 405, "text/plain", "method not allowed\n");
  if (url.pathname.startsWith("/mm7/messages/")) {
    return status(context, decodeURIComponent(url.pathname.slice(14)), request, response);
  }
  switch (url.pathname) {
    case "/health": {
      const state = context.messages.stats().state;
      const healthy = state !== "broken" && state !== "closed";
      return send(response, healthy ? 200 : 503, "application/json", JSON.stringify({ state }));
    }
    case "/metrics":
      return send(
        response,
        200,
        context.metrics.registry.contentType,
        await context.metrics.registry.metrics(),
      );
    case "/live.json":
      return send(response, 200, "application/json", JSON.stringify(liveView(context.messages)));
    case "/":
      return send(response, 200, "text/html; charset=utf-8", livePage());
    default:
      return send(response, 404, "text/plain", "not found\n");
  }
}

/** SubmitReq: authenticate, read within limits, then parse and store (here or in a handler thread). */
async function submit(
  context: RequestContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  const { limits, metrics } = context;
  try {
    const vasp = authenticate(context.options.vasps, request.headers.authorization);
    if (vasp === undefined) {
      response.setHeader("www-authenticate", 'Basic realm="mm7"');
      throw new Refused(
        new Mm7Fault(STATUS.improperIdentification, "unknown VASP or wrong password"),
      );
    }
    const body = await readBody(request, limits.bodyByteSizeMax);
    const input = { contentType: request.headers["content-type"], body, vaspId: vasp.vaspId };
    const accepted = await context.handle(input);
    metrics.durableSeconds.observe(accepted.durableMs / 1000);
    metrics.submissions.inc({ result: "accepted", status: String(STATUS.success) });
    send(
      response,
      200,
      'text/xml; charset="utf-8"',
      submitResponse(accepted, context.ids.of(accepted.seq, vasp.vaspId)),
    );
  } catch (error) {
    const { fault, namespace, transactionId } = asRefused(error);
    metrics.submissions.inc({ result: "refused", status: String(fault.statusCode) });
    const unauthenticated = response.hasHeader("www-authenticate");
    send(
      response,
      unauthenticated ? 401 : 500,
      'text/xml; charset="utf-8"',
      faultResponse(fault, namespace, transactionId),
    );
  }
}

/** The body, refused past `byteSizeMax` without reading the rest into memory. */
function readBody(request: http.IncomingMessage, byteSizeMax: number): Promise<Buffer> {
  const declared = Number(request.headers["content-length"] ?? "0");
  if (declared > byteSizeMax)
    return Promise.reject(new LimitExceeded("bodyByteSizeMax", byteSizeMax));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let byteSize = 0;
    request.on("data", (chunk: Buffer) => {
      byteSize += chunk.byteLength;
      if (byteSize > byteSizeMax) {
        request.removeAllListeners("data");
        request.resume();
        reject(new LimitExceeded("bodyByteSizeMax", byteSizeMax));
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** What MM7 (and a person) calls each Spool state of a message. */
const STATUS_NAMES: Record<MessageState, string> = {
  queued: "Queued",
  leased: "Delivering",
  retryWait: "Retrying",
  done: "Delivered",
  dead: "Failed",
  unknown: "Unknown",
};

function status(
  context: RequestContext,
  messageId: string,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): void {
  const vasp = authenticate(context.options.vasps, request.headers.authorization);
  if (vasp === undefined) {
    response.setHeader("www-authenticate", 'Basic realm="mm7"');
    send(response, 401, "application/json", JSON.stringify({ error: "unknown VASP" }));
    return;
  }
  // Another VASP's MessageID does not name a message for this one: Unknown, as a made-up one.
  const seq = context.ids.seqOf(messageId, vasp.vaspId);
  const state = seq === undefined ? "unknown" : context.messages.messageState(seq);
  const body = {
    messageId,
    state: STATUS_NAMES[state],
    ...(seq === undefined ? {} : context.forwarding.detailOf(seq, state)),
  };
  if (state === "unknown") {
    send(
      response,
      404,
      "application/json",
      JSON.stringify({ ...body, statusCode: STATUS.messageIdNotFound }),
    );
    return;
  }
  send(response, 200, "application/json", JSON.stringify(body));
}

function liveView(spool: Spool) {
  const stats = spool.stats();
  return {
    state: stats.state,
    messages: stats.messages,
    flushes: stats.flushes,
    flushReasons: stats.flushReasons,
    batchRecordsMean: stats.batchRecordsMean,
    recentBatches: spool.recentBatches(),
  };
}

function send(response: http.ServerResponse, code: number, type: string, body: string): void {
  response.writeHead(code, { "content-type": type, "content-length": Buffer.byteLength(body) });
  response.end(body);
}

/**
 * The MM7 port's routes: `POST /mm7` (SubmitReq: authenticate, reserve, read, store, answer),
 * `GET /mm7/messages/<MessageID>` (status, JSON) and `GET /health`; everything else is 404.
 * `Gateway.ts` opens the server that calls `route` for each request.
 */
import type * as http from "node:http";
import type { MessageState } from "@spool/actors";
import type { Admission } from "./Admission.js";
import type { Answers } from "./Answers.js";
import type { Delivery } from "./Delivery.js";
import type { GatewayOptions } from "./Gateway.js";
import type { GatewaySpool } from "./GatewaySpool.js";
import type { InFlight } from "./InFlight.js";
import {
  type ConnectionLimits,
  type GatewayLimits,
  type InFlightLimits,
  LimitExceeded,
} from "./Limits.js";
import type { MessageIds } from "./MessageIds.js";
import type { Metrics } from "./Metrics.js";
import { faultResponse, Mm7Fault, STATUS, submitResponse } from "./Mm7.js";
import { declaredByteSize, readBody } from "./RequestBody.js";
import { type Accepted, asRefused, Refused, type SubmissionInput } from "./Submit.js";
import { authenticate } from "./Vasps.js";

/** What the MM7 routes work with: the gateway's parts, and whether it is closing. */
export interface RequestContext {
  readonly options: GatewayOptions;
  readonly limits: GatewayLimits;
  readonly connectionLimits: ConnectionLimits;
  readonly inFlightLimits: InFlightLimits;
  readonly admission: Admission;
  readonly inFlight: InFlight;
  readonly messages: GatewaySpool;
  readonly handle: (input: SubmissionInput) => Promise<Accepted>;
  readonly metrics: Metrics;
  readonly ids: MessageIds;
  readonly forwarding: Delivery;
  /** Requests in progress: their answers' timeout, and what closing waits for. */
  readonly answers: Answers;
  /** Set once `close` is called: requests are no longer taken. */
  closing: boolean;
}

const STATUS_PATH = "/mm7/messages/";

/** Answers one request on the MM7 port: `POST /mm7`, a status query, `GET /health`, or 404. */
export async function route(
  context: RequestContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  let url: URL;
  try {
    url = new URL(request.url ?? "/", "http://gateway");
  } catch {
    return send(response, 400, "text/plain", "not a request target\n");
  }
  if (url.pathname === "/mm7") {
    if (request.method === "POST") return submit(context, request, response);
    return notAllowed(response, "POST");
  }
  if (url.pathname.startsWith(STATUS_PATH)) {
    if (request.method !== "GET") return notAllowed(response, "GET");
    // A VASP asking about its messages proves itself as one submitting does (a second digest,
    // so that `status` stays as it is).
    if (authenticate(context.options.vasps, request.headers.authorization) !== undefined) {
      context.admission.authenticated(request.socket);
    }
    let messageId: string;
    try {
      messageId = decodeURIComponent(url.pathname.slice(STATUS_PATH.length));
    } catch {
      const refusal = {
        error: "malformed %-escape in the MessageID",
        statusCode: STATUS.clientError,
      };
      return send(response, 400, "application/json", JSON.stringify(refusal));
    }
    return status(context, messageId, request, response);
  }
  if (url.pathname === "/health") {
    if (request.method !== "GET") return notAllowed(response, "GET");
    const state = context.messages.stats().state;
    const healthy = state !== "broken" && state !== "closed";
    return send(response, healthy ? 200 : 503, "application/json", JSON.stringify({ state }));
  }
  return send(response, 404, "text/plain", "not found\n");
}

function notAllowed(response: http.ServerResponse, allowed: string): void {
  response.setHeader("allow", allowed);
  send(response, 405, "text/plain", "method not allowed\n");
}

/**
 * SubmitReq: authenticate, reserve the body's share of memory, read it within limits, then parse
 * and store (here or in a handler thread). Everything that refuses before the body is read does
 * so from the headers alone, and the connection closes without reading the body (`send`).
 */
async function submit(
  context: RequestContext,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  const { limits, metrics } = context;
  let release = () => {};
  try {
    const vasp = authenticate(context.options.vasps, request.headers.authorization);
    if (vasp === undefined) {
      response.setHeader("www-authenticate", 'Basic realm="mm7"');
      throw new Refused(
        new Mm7Fault(STATUS.improperIdentification, "unknown VASP or wrong password"),
      );
    }
    context.admission.authenticated(request.socket);
    const declared = declaredByteSize(request);
    if (declared !== undefined && declared > limits.bodyByteSizeMax) {
      throw new LimitExceeded("bodyByteSizeMax", limits.bodyByteSizeMax);
    }
    // A body without a length may be as large as the limit: it reserves that much.
    const share = context.inFlight.reserve(vasp.vaspId, declared ?? limits.bodyByteSizeMax);
    if (!share.granted) {
      response.setHeader("retry-after", String(context.inFlightLimits.retryAfterSeconds));
      const why = `busy: ${share.limit} (${share.value}) reached; retry later`;
      throw new Refused(new Mm7Fault(STATUS.serviceUnavailable, why, "Server"));
    }
    release = share.release;
    if (request.headers.expect?.toLowerCase() === "100-continue") response.writeContinue();
    const body = await readBody(request, {
      byteSizeMax: limits.bodyByteSizeMax,
      declaredByteSize: declared,
      idleTimeoutMs: context.connectionLimits.bodyIdleTimeoutMs,
    });
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
    // A body abandoned, stalled or timed out: its socket is gone, there is no one to answer.
    if (request.socket.destroyed) {
      metrics.submissions.inc({ result: "abandoned", status: "none" });
      return;
    }
    const { fault, namespace, transactionId } = asRefused(error);
    metrics.submissions.inc({ result: "refused", status: String(fault.statusCode) });
    const code = response.hasHeader("www-authenticate")
      ? 401
      : response.hasHeader("retry-after")
        ? 503
        : 500;
    send(
      response,
      code,
      'text/xml; charset="utf-8"',
      faultResponse(fault, namespace, transactionId),
    );
  } finally {
    release();
  }
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

async function status(
  context: RequestContext,
  messageId: string,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  const vasp = authenticate(context.options.vasps, request.headers.authorization);
  if (vasp === undefined) {
    response.setHeader("www-authenticate", 'Basic realm="mm7"');
    send(response, 401, "application/json", JSON.stringify({ error: "unknown VASP" }));
    return;
  }
  // Another VASP's MessageID does not name a message for this one: Unknown, as a made-up one.
  const seq = context.ids.seqOf(messageId, vasp.vaspId);
  // A stream asks the cluster: a promise there, the answer itself on a directory.
  const state = seq === undefined ? "unknown" : await context.messages.messageState(seq);
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

/**
 * Answers a request. When its body has not been read (a refusal from the headers alone), the
 * answer says `Connection: close` and Node closes the socket once it is written, instead of
 * reading the rest of the body first (a refused 100 MB upload is not read to its end).
 */
export function send(
  response: http.ServerResponse,
  code: number,
  type: string,
  body: string,
): void {
  const headers: http.OutgoingHttpHeaders = {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
  };
  if (bodyUnread(response.req)) headers.connection = "close";
  response.writeHead(code, headers);
  response.end(body);
}

/** Whether a request has a body still (partly) unread. */
function bodyUnread(request: http.IncomingMessage): boolean {
  if (request.complete) return false;
  const length = request.headers["content-length"];
  const chunked = request.headers["transfer-encoding"] !== undefined;
  return chunked || (length !== undefined && length !== "0");
}

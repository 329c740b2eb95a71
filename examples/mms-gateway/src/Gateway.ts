/**
 * The MMS gateway: an HTTP service taking MM7 SubmitReq from authenticated VASPs, storing each
 * message durably in Spool before answering SubmitRsp (claims 4, 20, 57: stored before it is
 * accepted), forwarding with retries (`Delivery.ts`), and answering status queries and health.
 * Its front door is bounded: connections (`Admission.ts`), timeouts, and body bytes in flight
 * (`InFlight.ts`). Metrics and the live view are on a separate admin listener. Its spools live
 * under its directory or on a JetStream cluster (`SpoolStore.ts`); the rest of it works on
 * either through `GatewaySpool`.
 *
 * MM7 routes (`Routes.ts`): `POST /mm7` (SubmitReq), `GET /mm7/messages/<MessageID>` (status,
 * JSON) and `GET /health`; everything else is 404. Admin routes (`AdminListener.ts`): `GET /metrics`,
 * `GET /metrics/otel` (the spools' OpenTelemetry metrics), `GET /` (live page) and
 * `GET /live.json`.
 */
import { mkdir } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import {
  ADMIN_CONNECTION_COUNT_MAX,
  type AdminOptions,
  DEFAULT_ADMIN,
  openAdminListener,
} from "./AdminListener.js";
import { Admission } from "./Admission.js";
import { Answers } from "./Answers.js";
import {
  ATTEMPTS_MAX,
  checkDeliveryOptions,
  DEFAULT_DELIVERY,
  Delivery,
  type DeliveryOptions,
  REPORT_CONCURRENCY,
} from "./Delivery.js";
import { withinDescriptorLimit } from "./Descriptors.js";
import { observeFrontDoor } from "./DoorMetrics.js";
import type { GatewaySpool } from "./GatewaySpool.js";
import { HandlerThreads } from "./HandlerThreads.js";
import { InFlight, inFlightLimitsOf } from "./InFlight.js";
import {
  type ConnectionLimits,
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_IN_FLIGHT_LIMITS,
  DEFAULT_LIMITS,
  type GatewayLimits,
  type InFlightLimits,
} from "./Limits.js";
import { machineWatch } from "./MachineWatch.js";
import { messageIds } from "./MessageIds.js";
import { gatewayMetrics, type Metrics } from "./Metrics.js";
import { faultResponse } from "./Mm7.js";
import { otelMetrics } from "./OtelMetrics.js";
import { type RequestContext, route, send } from "./Routes.js";
import { checkStore, openSpools, type SpoolStore } from "./SpoolStore.js";
import { acceptSubmission, internalFault, type SubmissionInput } from "./Submit.js";
import type { Vasp } from "./Vasps.js";

/** Options of {@link openGateway}. @example { dir: "./spool-data", vasps, recipientUrl } */
export interface GatewayOptions {
  /**
   * The gateway's directory: its spools (`messages/`, `reports/`) on a directory store, and on
   * any store its identity, the journal of failures and the dead letters it reported.
   */
  readonly dir: string;
  /** Where the spools live: under `dir` (the default), or on a JetStream cluster. */
  readonly store?: SpoolStore;
  /**
   * The gateway's identity (the key of its MessageIDs): `<dir>/gateway-identity.json` by
   * default. Gateways sharing one queue must share one identity, so that a MessageID given
   * by one is the one another forwards, reports and answers status queries with.
   */
  readonly identityFile?: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly vasps: readonly Vasp[];
  /** Where messages are forwarded (HTTP POST). */
  readonly recipientUrl: string;
  readonly limits?: Partial<GatewayLimits>;
  /** Connection caps and timeouts; {@link DEFAULT_CONNECTION_LIMITS} for what is not given. */
  readonly connections?: Partial<ConnectionLimits>;
  /** Body bytes and submissions in progress; {@link DEFAULT_IN_FLIGHT_LIMITS} by default. */
  readonly inFlight?: Partial<InFlightLimits>;
  /** The admin listener (metrics, live page): loopback, a free port, by default. */
  readonly admin?: Partial<AdminOptions>;
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
  /** The MM7 port: submissions, status queries and health. */
  readonly url: string;
  /** The admin listener: `/metrics`, `/metrics/otel`, `/live.json` and the live page `/`. */
  readonly adminUrl: string;
  readonly messages: GatewaySpool;
  readonly metrics: Metrics;
  /** The caps in force: `openCountMax` as lowered to fit the descriptor limit. */
  readonly connectionLimits: ConnectionLimits;
  /** Connections open, unauthenticated, evicted and refused so far. */
  readonly admission: Admission;
  /** Body bytes and submissions in progress. */
  readonly inFlight: InFlight;
  /** The MessageID of the message `vaspId` submitted, stored under `seq`. */
  messageIdOf(seq: number, vaspId: string): string;
  /** Stops taking requests, lets forwards in flight finish, closes the spools. */
  close(): Promise<void>;
}

/**
 * Opens the spools, starts forwarding and serves HTTP. When any step fails (a port taken, a
 * spool that will not open), what was opened is closed again, last first, before it rejects:
 * the spools are released and nothing is left listening or forwarding.
 */
export async function openGateway(options: GatewayOptions): Promise<Gateway> {
  const opened: (() => Promise<unknown>)[] = [];
  try {
    return await startGateway(options, opened);
  } catch (error) {
    for (const close of opened.reverse()) {
      // The first failure is the one to report; a failing close must not hide it.
      await close().catch(() => undefined);
    }
    throw error;
  }
}

/** {@link openGateway}'s steps; each thing opened pushes its closer to `opened`. */
async function startGateway(
  options: GatewayOptions,
  opened: (() => Promise<unknown>)[],
): Promise<Gateway> {
  const limits: GatewayLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const bodyBytesMax = options.inFlight?.bodyBytesMax ?? DEFAULT_IN_FLIGHT_LIMITS.bodyBytesMax;
  if (bodyBytesMax < limits.bodyByteSizeMax) {
    // Else the largest body allowed would be told to retry later for ever.
    throw new RangeError(`inFlight.bodyBytesMax (${bodyBytesMax}) < bodyByteSizeMax`);
  }
  const delivery: DeliveryOptions = { ...DEFAULT_DELIVERY, ...options.delivery };
  const maxAttempts = options.maxAttempts ?? ATTEMPTS_MAX;
  if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= ATTEMPTS_MAX)) {
    throw new RangeError(`maxAttempts must be a whole number from 1 to ${ATTEMPTS_MAX}`);
  }
  const store = options.store ?? { kind: "directory" };
  const handlerThreads = options.handlerThreads ?? 0;
  checkStore(store, handlerThreads);
  // Its journal and identity live there on any store; a stream makes no directory for them.
  await mkdir(options.dir, { recursive: true });
  const { messages, reports, port } = await openSpools(
    store,
    {
      dir: options.dir,
      maxAttempts,
      reportsMaxAttempts: ATTEMPTS_MAX,
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    },
    opened,
  );
  // Checked against the lease the spool holds its messages for (its default unless given).
  checkDeliveryOptions(delivery, messages.config.leaseMs);
  // The live page shows the synchronizer's state from its inspection events.
  const watch = machineWatch(messages.synchronizer);
  opened.push(async () => watch.stop());
  const ids = await messageIds(options.dir, options.identityFile);
  const metrics = gatewayMetrics(messages);
  // The spools' OpenTelemetry instruments, on an SDK of the gateway's own (`/metrics/otel`).
  const otel = otelMetrics(messages, reports);
  opened.push(() => otel.close());
  const stopObserving = messages.onBatch(metrics.observeBatch);
  opened.push(async () => stopObserving());
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
  opened.push(() => forwarding.stop());
  // checkStore refused handler threads on a store without ports.
  const threads =
    handlerThreads > 0 && port !== undefined
      ? new HandlerThreads(port, handlerThreads, limits)
      : undefined;
  if (threads !== undefined) opened.push(() => threads.close());
  // Listening only once every handler thread can take a submission.
  await threads?.ready;
  const writer = otel.messagesWriter("mm7");
  const handle = (input: SubmissionInput) =>
    threads !== undefined
      ? threads.submit(input)
      : acceptSubmission(input, limits, (record) => writer.append(record));
  // Counted now, with the spools open and forwarding started: what serving must leave free.
  const connectionLimits = withinDescriptorLimit(
    { ...DEFAULT_CONNECTION_LIMITS, ...options.connections },
    reservedSocketCount(delivery),
  );
  const inFlightLimits = inFlightLimitsOf(options.inFlight ?? {}, limits.bodyByteSizeMax);
  const context: RequestContext = {
    options,
    limits,
    connectionLimits,
    inFlightLimits,
    admission: new Admission(connectionLimits),
    inFlight: new InFlight(inFlightLimits),
    messages,
    handle,
    metrics,
    ids,
    forwarding,
    answers: new Answers(),
    closing: false,
  };
  observeFrontDoor(metrics.registry, context.admission, context.inFlight);
  // The admin listener first: if its port is taken, the MM7 port has taken no request yet.
  const admin = await openAdminListener(
    { ...DEFAULT_ADMIN, ...options.admin },
    { metrics, otel },
    messages,
    watch.view,
  );
  opened.push(() => admin.close());
  const server = await listen(context);
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${address.port}`,
    adminUrl: admin.url,
    messages,
    metrics,
    connectionLimits,
    admission: context.admission,
    inFlight: context.inFlight,
    messageIdOf: ids.of,
    close() {
      closing ??= closeGateway();
      return closing;
    },
  };
  async function closeGateway(): Promise<void> {
    // No new connections; idle ones closed now. A request read whole is let finish (a submission
    // cut mid-append is retried by its VASP and stored twice), for a bound; one whose body is
    // still arriving is cut, as it would be at its timeout.
    context.closing = true;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeIdleConnections();
    await context.answers.drain();
    server.closeAllConnections();
    await closed;
    await admin.close();
    await threads?.close();
    await forwarding.stop();
    stopObserving();
    watch.stop();
    await otel.close();
    await messages.close();
    await reports.close();
  }
}

/**
 * Descriptors kept from the MM7 port: two per forward or report in flight (its socket, and a
 * keep-alive one closing as another opens), and the admin listener's connections.
 */
const reservedSocketCount = (delivery: DeliveryOptions) =>
  2 * (delivery.concurrency + REPORT_CONCURRENCY) + ADMIN_CONNECTION_COUNT_MAX;

/**
 * How often Node checks header and request timeouts: a quarter of the header timeout, at most a
 * second, so a slowloris is closed within about the header timeout (Node's default, 30 s, let
 * one live 75 s).
 */
const checkingIntervalMs = (limits: ConnectionLimits) =>
  Math.max(10, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4)));

/** The MM7 server, listening, with its connections admitted and timed. */
async function listen(context: RequestContext): Promise<http.Server> {
  const { connectionLimits: limits, admission, options } = context;
  const serve = (request: http.IncomingMessage, response: http.ServerResponse) => {
    // Closing: a request that comes now is not read, so it cannot be stored unanswered.
    if (context.closing) return void request.socket.destroy();
    admission.requestStarted(request.socket);
    context.answers.track(response);
    response.once("close", () => admission.requestFinished(request.socket));
    route(context, request, response)
      .catch((error: unknown) => {
        if (response.headersSent) return;
        send(response, 500, 'text/xml; charset="utf-8"', faultResponse(internalFault(error)));
      })
      .finally(() => context.answers.written(response, limits.responseTimeoutMs));
  };
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: checkingIntervalMs(limits),
    },
    serve,
  );
  // `Expect: 100-continue` (curl sends it past 1 MiB): the client waits for 100 Continue before
  // sending the body, and `submit` sends it only once the body is to be read, so a refused
  // body is never sent at all (Node would answer 100 Continue at once without this listener).
  server.on("checkContinue", serve);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.on("connection", (socket) => admission.admit(socket));
  await new Promise<void>((resolve, reject) => {
    // EADDRINUSE or EACCES come as an 'error' event: without a listener, an uncaught exception.
    const refused = (error: Error) => {
      reject(new Error(`the MM7 port cannot listen: ${error.message}`, { cause: error }));
    };
    server.once("error", refused);
    server.listen(options.port ?? 0, options.host, () => {
      server.off("error", refused);
      resolve();
    });
  });
  return server;
}

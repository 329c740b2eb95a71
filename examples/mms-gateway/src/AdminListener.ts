/**
 * The operator's listener, apart from the MM7 port: `GET /metrics` (Prometheus),
 * `GET /metrics/otel` (the spools' OpenTelemetry metrics as JSON), `GET /` (the live page) and
 * `GET /live.json`. It listens on loopback by default, so what the gateway holds
 * and how it is doing are not told to whoever can reach the VASPs' port.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { machineGraph } from "./diagram/MachineGraph.js";
import { machineSvg } from "./diagram/MachineSvg.js";
import type { GatewaySpool } from "./GatewaySpool.js";
import { livePage } from "./LivePage.js";
import type { MachineView } from "./MachineWatch.js";
import type { Metrics } from "./Metrics.js";
import type { OtelMetrics } from "./OtelMetrics.js";

/** Where the admin listener listens. @example { host: "127.0.0.1", port: 8702 } */
export interface AdminOptions {
  /** Loopback by default: only the gateway's own host reaches it. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/**
 * Loopback, a free port.
 *
 * @example
 * openAdminListener(DEFAULT_ADMIN, { metrics, otel }, messages, view)
 */
export const DEFAULT_ADMIN: AdminOptions = { host: "127.0.0.1", port: 0 };

/** What the metrics pages read: prom-client's registry and the OpenTelemetry SDK. */
export interface AdminMetrics {
  readonly metrics: Metrics;
  readonly otel: OtelMetrics;
}

/** A listening admin listener. */
export interface AdminListener {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The admin routes are small and answered at once; these bound what a stuck or hostile local
 * client can hold (the MM7 port's own bounds are in `Limits.ts`).
 */
const ADMIN_HEADERS_TIMEOUT_MS = 10_000;
const ADMIN_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Connections the admin listener takes at most: a Prometheus scraper and a few people's live
 * pages. The gateway keeps their descriptors free (`Descriptors.ts`).
 */
export const ADMIN_CONNECTION_COUNT_MAX = 16;

/** Serves metrics and the live view of `messages` on `options.host`:`options.port`. */
export async function openAdminListener(
  options: AdminOptions,
  { metrics, otel }: AdminMetrics,
  messages: GatewaySpool,
  machine: () => MachineView,
): Promise<AdminListener> {
  // Drawn once, from the machine the synchronizer runs: the chart cannot drift from it.
  const graph = machineGraph(messages.synchronizer.actor.logic);
  const page = livePage(machineSvg(graph), graph.everywhere);
  const server = http.createServer(
    {
      headersTimeout: ADMIN_HEADERS_TIMEOUT_MS,
      requestTimeout: ADMIN_REQUEST_TIMEOUT_MS,
    },
    (request, response) => {
      answer(request, { metrics, otel, messages, machine, page }).then(
        ({ code, type, body }) => send(response, code, type, body),
        (error: unknown) => send(response, 500, "text/plain", `${String(error)}\n`),
      );
    },
  );
  server.maxConnections = ADMIN_CONNECTION_COUNT_MAX;
  await new Promise<void>((resolve, reject) => {
    const refused = (error: Error) => {
      reject(new Error(`the admin listener cannot listen: ${error.message}`, { cause: error }));
    };
    server.once("error", refused);
    server.listen(options.port, options.host, () => {
      server.off("error", refused);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** What the admin routes answer from. */
interface AdminSources {
  readonly metrics: Metrics;
  readonly otel: OtelMetrics;
  readonly messages: GatewaySpool;
  readonly machine: () => MachineView;
  /** The live page, drawn once. */
  readonly page: string;
}

async function answer(
  request: http.IncomingMessage,
  { metrics, otel, messages, machine, page }: AdminSources,
): Promise<{ code: number; type: string; body: string }> {
  if (request.method !== "GET") return { code: 405, type: "text/plain", body: "GET only\n" };
  const pathname = (request.url ?? "/").split("?")[0];
  switch (pathname) {
    case "/metrics":
      return {
        code: 200,
        type: metrics.registry.contentType,
        body: await metrics.registry.metrics(),
      };
    case "/metrics/otel":
      return { code: 200, type: "application/json", body: await otel.collect() };
    case "/live.json":
      return {
        code: 200,
        type: "application/json",
        body: JSON.stringify(await liveView(messages, machine())),
      };
    case "/":
      return { code: 200, type: "text/html; charset=utf-8", body: page };
    default:
      return { code: 404, type: "text/plain", body: "not found\n" };
  }
}

async function liveView(spool: GatewaySpool, machine: MachineView) {
  const stats = spool.stats();
  return {
    // The machine's state as its inspection events last showed it; "failed" once a fault
    // stopped it (the machine itself never says so).
    state: stats.state === "failed" ? stats.state : (machine.state ?? stats.state),
    machineEvents: machine.events,
    // Times each arrow of the chart was taken, and each state entered, for the page to light.
    arrowCounts: machine.arrows,
    stateEntries: machine.entries,
    // By state on a directory; a stream tells only how many are not done (null: not known).
    messages: stats.messages ?? null,
    depth: await spool.depth(),
    records: stats.records,
    acks: stats.acks,
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

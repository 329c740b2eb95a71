/**
 * Where the gateway's two spools (messages, delivery reports) live: under its directory
 * (`openSpool`, the default), or on a NATS JetStream cluster (`openJetStreamSpool`), two
 * streams whose durable consumers every gateway on them shares, so that gateways started
 * against the same streams share one queue. The rest of the gateway sees a
 * {@link GatewaySpool} either way; this module is where the two stores part.
 */

import * as path from "node:path";
import type { MessagePort } from "node:worker_threads";
import { openSpool } from "@spool/actors";
import { openJetStreamSpool } from "@spool/jetstream";
import { type GatewaySpool, streamGatewaySpool } from "./GatewaySpool.js";

/**
 * A JetStream cluster: its servers, the two streams and the consumer name every gateway on
 * them uses.
 *
 * @example
 * { kind: "jetstream", servers: ["nats://127.0.0.1:4222"], stream: "mms", reportsStream: "mms_reports", replicas: 1, consumer: "gateway" }
 */
export interface JetStreamStore {
  readonly kind: "jetstream";
  readonly servers: readonly string[];
  /** The messages' stream. */
  readonly stream: string;
  /** The delivery reports' stream. */
  readonly reportsStream: string;
  /** 1, 3 or 5 servers keep each stream. */
  readonly replicas: number;
  /** The durable consumer of both streams, the same on every gateway sharing them. */
  readonly consumer: string;
}

/**
 * Where the spools live: `directory` puts them under the gateway's `dir` (`messages/`,
 * `reports/`); `jetstream` on a cluster.
 *
 * @example
 * const store: SpoolStore = { kind: "directory" };
 */
export type SpoolStore = { readonly kind: "directory" } | JetStreamStore;

/** What the gateway needs to open its spools. @example { dir, maxAttempts: 65535 } */
export interface SpoolsWanted {
  /** The gateway's directory: the spools' home on a directory store. */
  readonly dir: string;
  /** The messages' attempts; reports always get `reportsMaxAttempts`. */
  readonly maxAttempts: number;
  readonly reportsMaxAttempts: number;
  /** The messages' lease; the store's default when absent. */
  readonly leaseMs?: number;
}

/** The open spools. @example const { messages, reports, port } = await openSpools(store, wanted, opened) */
export interface GatewaySpools {
  readonly messages: GatewaySpool;
  readonly reports: GatewaySpool;
  /** A port for a handler thread's writer to the messages' spool; only a directory has one. */
  readonly port: (() => MessagePort) | undefined;
}

/**
 * Refuses, before anything is opened, what `store` cannot do: handler threads write through
 * `spool.port()` (a writer in another thread sharing the spool's synchronizer), which a
 * JetStream spool does not offer. A RangeError naming both settings.
 *
 * @example
 * checkStore({ kind: "directory" }, 4); // fine
 */
export function checkStore(store: SpoolStore, handlerThreads: number): void {
  if (store.kind === "jetstream" && handlerThreads > 0) {
    throw new RangeError(
      `handlerThreads (${handlerThreads}) cannot run on a JetStream store: handler threads ` +
        "write through spool.port(), which only a spool directory offers. Set " +
        "GATEWAY_HANDLER_THREADS=0 (or leave it unset) with SPOOL_STORE=nats://...",
    );
  }
}

/**
 * Opens both spools on `store`; each one opened pushes its closer to `opened`, so that a
 * failure to open the second closes the first.
 *
 * @example
 * const spools = await openSpools({ kind: "directory" }, { dir, maxAttempts: 5, reportsMaxAttempts: 5 }, []);
 */
export async function openSpools(
  store: SpoolStore,
  wanted: SpoolsWanted,
  opened: (() => Promise<unknown>)[],
): Promise<GatewaySpools> {
  const lease = wanted.leaseMs === undefined ? {} : { leaseMs: wanted.leaseMs };
  if (store.kind === "directory") {
    const messages = await openSpool({
      dir: path.join(wanted.dir, "messages"),
      maxAttempts: wanted.maxAttempts,
      ...lease,
    });
    opened.push(() => messages.close());
    const reports = await openSpool({
      dir: path.join(wanted.dir, "reports"),
      maxAttempts: wanted.reportsMaxAttempts,
    });
    opened.push(() => reports.close());
    return { messages, reports, port: () => messages.port() };
  }
  const { servers, replicas, consumer } = store;
  const messages = await openJetStreamSpool({
    servers,
    stream: store.stream,
    replicas,
    consumer,
    config: { maxAttempts: wanted.maxAttempts, ...lease },
  });
  opened.push(() => messages.close());
  const reports = await openJetStreamSpool({
    servers,
    stream: store.reportsStream,
    replicas,
    consumer,
    config: { maxAttempts: wanted.reportsMaxAttempts },
  });
  opened.push(() => reports.close());
  return {
    messages: streamGatewaySpool(messages),
    reports: streamGatewaySpool(reports),
    port: undefined,
  };
}

/** Stream and consumer names as JetStream takes them (`@spool/jetstream` checks them too). */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The store `npm start` is told by its environment: none of `SPOOL_STORE` is a directory;
 * `SPOOL_STORE=nats://host:port[,nats://host:port...]` the cluster, with `GATEWAY_STREAM`
 * (`mms`), `GATEWAY_REPORTS_STREAM` (the stream's name and `_reports`), `SPOOL_REPLICAS` (1)
 * and `GATEWAY_CONSUMER` (`gateway`). Throws a RangeError naming the variable that is wrong.
 *
 * @example
 * spoolStoreOf({ SPOOL_STORE: "nats://127.0.0.1:4222" }).kind // "jetstream"
 */
export function spoolStoreOf(env: Readonly<Record<string, string | undefined>>): SpoolStore {
  const given = env.SPOOL_STORE;
  if (given === undefined || given === "") return { kind: "directory" };
  const servers = given.split(",").map((server) => server.trim());
  if (!servers.every((server) => /^(nats|tls):\/\/\S+$/.test(server))) {
    throw new RangeError(`SPOOL_STORE must be nats:// URLs separated by commas, not "${given}"`);
  }
  const stream = named(env, "GATEWAY_STREAM", "mms");
  const reportsStream = named(env, "GATEWAY_REPORTS_STREAM", `${stream}_reports`);
  if (reportsStream === stream) {
    throw new RangeError(`GATEWAY_REPORTS_STREAM must differ from GATEWAY_STREAM ("${stream}")`);
  }
  const replicas = Number(env.SPOOL_REPLICAS ?? "1");
  if (replicas !== 1 && replicas !== 3 && replicas !== 5) {
    throw new RangeError(`SPOOL_REPLICAS must be 1, 3 or 5, not "${env.SPOOL_REPLICAS}"`);
  }
  const consumer = named(env, "GATEWAY_CONSUMER", "gateway");
  return { kind: "jetstream", servers, stream, reportsStream, replicas, consumer };
}

function named(
  env: Readonly<Record<string, string | undefined>>,
  variable: string,
  fallback: string,
): string {
  const value = env[variable] ?? fallback;
  if (!NAME.test(value)) {
    throw new RangeError(`${variable} must be 1-64 letters, digits, - or _, not "${value}"`);
  }
  return value;
}

/** How a store is named in logs. @example describeStore({ kind: "directory" }, dir) */
export function describeStore(store: SpoolStore, dir: string): string {
  if (store.kind === "directory") return `spools under ${dir}`;
  return `spools on ${store.servers.join(",")}: streams ${store.stream} and ${store.reportsStream}, consumer ${store.consumer}, ${store.replicas} replica(s)`;
}

/**
 * The systems on a NATS JetStream stream: Spool on the stream (`@spool/jetstream`, whose
 * synchronizer turns a batch into pipelined publishes and confirms it once every PubAck is in),
 * and the same client, `@nats-io/jetstream` 3.3, used directly: each writer awaits its own
 * `js.publish`. Both on a fresh stream of the same kind (work-queue retention, file storage,
 * the row's replicas), deleted when the case ends. The servers are the run's (NatsServers.ts):
 * a case is handed their URLs.
 */
import {
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  DUPLICATE_WINDOW_MS,
  deadLetterStreamName,
  type JetStreamSpool,
  openJetStreamSpool,
} from "@spool/jetstream";
import { type CaseSpec, jetStreamReplicas } from "./Measurement.js";
import type { System } from "./Peers.js";

/**
 * A stream of the case's own: its system, writers and process id, so that no case finds
 * another's messages (or a stream a stopped case left behind).
 */
function streamName(spec: CaseSpec): string {
  return `bench_${spec.system}_${spec.writers}_${process.pid}`.replaceAll(/[^A-Za-z0-9_-]/g, "_");
}

/** Deletes the case's streams (Spool's dead-letter stream too); a missing one is no error. */
async function dropStreams(jsm: JetStreamManager, stream: string): Promise<void> {
  for (const name of [stream, deadLetterStreamName(stream)]) {
    await jsm.streams.delete(name).catch(() => false);
  }
}

/** A connection for the bench's own requests: creating and deleting streams, the direct client. */
async function connectTo(servers: string, name: string): Promise<NatsConnection> {
  return connect({ servers: servers.split(","), name });
}

/**
 * Spool on a fresh JetStream stream, with its defaults (the flush policy of a spool on disk).
 * `close` closes the spool, then deletes its streams; `report` says what its batches were.
 */
async function openSpoolOnStream(spec: CaseSpec, servers: string, replicas: 1 | 3) {
  const stream = streamName(spec);
  const admin = await connectTo(servers, `bench-admin-${process.pid}`);
  const jsm = await jetstreamManager(admin);
  await dropStreams(jsm, stream);
  const spool = await openJetStreamSpool({
    servers,
    stream,
    replicas,
    name: `bench-${spec.system}-${process.pid}`,
  });
  const writeMs = { sum: 0, count: 0 };
  spool.onBatch((report) => {
    writeMs.sum += report.writeMs;
    writeMs.count += 1;
  });
  return {
    spool,
    close: async () => {
      // What bounds a row is in its batches: how many, how large, why each was closed, and
      // how long the stream took to acknowledge one (publish of the first to the last PubAck).
      const meanWriteMs = writeMs.count === 0 ? 0 : writeMs.sum / writeMs.count;
      const summary = `${batchSummary(spool)}; ${meanWriteMs.toFixed(1)} ms from publish to every PubAck`;
      process.stderr.write(`${spec.system} ×${spec.writers}: ${summary}\n`);
      await spool.close();
      await dropStreams(jsm, stream);
      await admin.close();
    },
  };
}

/**
 * The spool's batches in one line: count, mean and largest size, flush reasons, how many were
 * split or went beside another (pipelining), resends.
 */
function batchSummary(spool: JetStreamSpool): string {
  const stats = spool.stats();
  const { splits, writtenAhead } = spool.synchronizer.stats();
  const reasons = Object.entries(stats.flushReasons)
    .filter(([, count]) => count > 0)
    .map(([reason, count]) => `${reason} ${count}`)
    .join(", ");
  return (
    `${stats.flushes} batches, mean ${stats.batchRecordsMean} records, ` +
    `largest ${stats.batchRecordsMax} (${reasons}); ${splits} split, ${writtenAhead} beside ` +
    `another; ${stats.publishesResent} publishes resent`
  );
}

/**
 * `jetstream-direct-r*`: the client alone on a fresh stream of the kind Spool creates (work
 * queue, file storage, the same replicas and duplicate window); every writer awaits its own
 * `js.publish`, with no message id (a direct user has none to give).
 */
async function openDirect(spec: CaseSpec, servers: string, replicas: 1 | 3): Promise<System> {
  const stream = streamName(spec);
  const subject = `bench.${stream}`;
  const nc = await connectTo(servers, `bench-${spec.system}-${process.pid}`);
  const jsm = await jetstreamManager(nc);
  await dropStreams(jsm, stream);
  await jsm.streams.add({
    name: stream,
    subjects: [subject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
  const js = jetstream(nc);
  return {
    writer: () => (payload) => js.publish(subject, payload),
    // The client commits each publish on its own: no batches to count.
    flushes: () => undefined,
    close: async () => {
      await dropStreams(jsm, stream);
      await nc.close();
    },
  };
}

/**
 * An append-only JetStream row as the case runner drives it: `spool-jetstream-r*` (a writer
 * handle per writer, as the other Spool rows) or `jetstream-direct-r*`.
 *
 * @example
 * const system = await openJetStreamAppender(spec, "nats://127.0.0.1:4223");
 */
export async function openJetStreamAppender(spec: CaseSpec, servers: string): Promise<System> {
  const replicas = jetStreamReplicas(spec.system);
  if (replicas === undefined) throw new Error(`${spec.system} does not run on JetStream`);
  if (spec.system.startsWith("jetstream-direct-")) return openDirect(spec, servers, replicas);
  const { spool, close } = await openSpoolOnStream(spec, servers, replicas);
  return {
    writer: () => {
      const handle = spool.writer();
      return (payload) => handle.append(payload);
    },
    flushes: () => spool.stats().flushes,
    close,
  };
}

/**
 * Spool on a fresh stream for an end-to-end row (`spool-jetstream-consume-r*`): the spool, and
 * a `close` that also deletes its streams.
 *
 * @example
 * const { spool, close } = await openJetStreamConsumer(spec, servers);
 */
export async function openJetStreamConsumer(spec: CaseSpec, servers: string) {
  const replicas = jetStreamReplicas(spec.system);
  if (replicas === undefined) throw new Error(`${spec.system} does not run on JetStream`);
  return openSpoolOnStream(spec, servers, replicas);
}

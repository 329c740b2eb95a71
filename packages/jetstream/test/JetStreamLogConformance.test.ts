/**
 * The log conformance suite of @spool/testing against JetStreamLog, on a standalone nats-server
 * this file starts itself (NatsCluster, size 1: a free port, a temporary store, ready once
 * healthy): a stream of its own for every check and every model path, shaped as
 * openJetStreamSpool makes it (work queue, file storage, the duplicate window).
 */
import {
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { type LogStore, type NatsCluster, startNatsCluster, testLogAdapter } from "@spool/testing";
import { afterAll, beforeAll } from "vitest";
import { DUPLICATE_WINDOW_MS, JetStreamLog } from "../src/index.js";

/**
 * How long JetStreamLog sends a publish again: long enough for a lost acknowledgement's resend
 * (one pause of 100 ms and a round trip on loopback), short because a refused batch is retried
 * for all of it before its writers hear.
 */
const RETRY_FOR_MS = 2_000;
/** A publish's acknowledgement on loopback takes under a millisecond; a loaded machine, more. */
const PUBLISH_TIMEOUT_MS = 5_000;

let server: NatsCluster | undefined;
let nc: NatsConnection | undefined;
let jsm: JetStreamManager;
let js: JetStreamClient;
let streams = 0;

beforeAll(async () => {
  server = await startNatsCluster({ size: 1 });
  nc = await connect({ servers: server.urls() });
  jsm = await jetstreamManager(nc);
  js = jetstream(nc);
}, 70_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/**
 * `js` with the acknowledgement of the next publishes thrown away once the stream stored
 * them: the adapter hears an error, as when the reply was lost, and must send the same
 * message id again.
 */
function losingAcknowledgements(client: JetStreamClient) {
  const book = { toLose: 0, lost: 0 };
  const publish: JetStreamClient["publish"] = async (subject, payload, options) => {
    const ack = await client.publish(subject, payload, options);
    if (book.toLose === 0) return ack;
    book.toLose -= 1;
    book.lost += 1;
    throw new Error(`the acknowledgement of stream seq ${ack.seq} was lost (injected)`);
  };
  const lossy = new Proxy(client, {
    get: (target, key) => {
      if (key === "publish") return publish;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { lossy, book };
}

async function freshStream(): Promise<LogStore> {
  streams += 1;
  const name = `conformance_${streams}`;
  const subject = `conformance.${streams}`;
  await jsm.streams.add({
    name,
    subjects: [subject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: 1,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
  const { lossy, book } = losingAcknowledgements(js);
  const log = new JetStreamLog({
    js: lossy,
    stream: name,
    subject,
    replicas: 1,
    publishTimeoutMs: PUBLISH_TIMEOUT_MS,
    retryForMs: RETRY_FOR_MS,
  });
  return {
    log,
    read: async (at) => (await jsm.streams.getMessage(name, { seq: at }))?.data,
    recordCount: async () => (await jsm.streams.info(name)).state.messages,
    // A full stream that discards new messages refuses every publish from now on.
    refuseAppends: async () => {
      const { config, state } = await jsm.streams.info(name);
      await jsm.streams.update(name, {
        ...config,
        max_msgs: state.messages,
        discard: DiscardPolicy.New,
      });
    },
    loseAcknowledgements: (count) => {
      book.toLose += count;
    },
    acknowledgementsLost: () => book.lost,
    remove: async () => {
      await jsm.streams.delete(name);
    },
  };
}

await testLogAdapter("JetStreamLog", freshStream);

/**
 * The log conformance suite of @spool/testing against JetStreamLog, on a standalone nats-server
 * this file starts itself (NatsCluster, size 1: a free port, a temporary store, ready once
 * healthy): a stream of its own for every check and every model path, shaped as
 * openJetStreamSpool makes it (work queue, file storage, the duplicate window).
 */
import {
  DiscardPolicy,
  type JetStreamManager,
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
 * How long JetStreamLog sends a publish again: room for several resends of a lost
 * acknowledgement, and a bound on a test whose log stops answering.
 */
const RETRY_FOR_MS = 20_000;
/**
 * When a publish whose acknowledgement has not come is sent again: a lost acknowledgement is
 * noticed this late. An acknowledgement on loopback takes under a millisecond; one that comes
 * after the resend only makes the resend a duplicate, which the stream recognises.
 */
const PUBLISH_TIMEOUT_MS = 500;

let server: NatsCluster | undefined;
let nc: NatsConnection | undefined;
let jsm: JetStreamManager;
let streams = 0;

beforeAll(async () => {
  server = await startNatsCluster({ size: 1 });
  nc = await connect({ servers: server.urls() });
  jsm = await jetstreamManager(nc);
}, 70_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/**
 * The connection with the acknowledgement of the next publishes thrown away once the stream
 * stored them: the adapter never hears of them, as when the reply was lost, and must send the
 * same message id again.
 */
function losingAcknowledgements(connection: NatsConnection) {
  const book = { toLose: 0, lost: 0 };
  const subscribe: NatsConnection["subscribe"] = (subject, options) => {
    const callback = options?.callback;
    if (callback === undefined) return connection.subscribe(subject, options);
    return connection.subscribe(subject, {
      ...options,
      callback: (error, message) => {
        const stored =
          error === null && message.data.length > 0 && message.json<{ seq?: number }>().seq;
        if (book.toLose > 0 && typeof stored === "number") {
          book.toLose -= 1;
          book.lost += 1;
          return;
        }
        callback(error, message);
      },
    });
  };
  const lossy = new Proxy(connection, {
    get: (target, key) => {
      if (key === "subscribe") return subscribe;
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
  const { lossy, book } = losingAcknowledgements(nc!);
  const log = new JetStreamLog({
    nc: lossy,
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

/**
 * The stream, its dead-letter stream and its durable consumer: created when missing, checked
 * when present, so that every spool sharing them keeps the same promises.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { StreamMismatch } from "./JetStreamError.js";
import { DUPLICATE_WINDOW_MS, type JetStreamSettings } from "./JetStreamOptions.js";

/**
 * Leases a consumer may hold out at once across every spool sharing it: far above what
 * `consume` asks for (its concurrency, a few thousand at most), and bounded, since the
 * server keeps a record per pending lease.
 */
export const LEASES_PENDING_MAX = 65_536;

/**
 * The dead-letter stream's name: the stream's, with `_dead`. It keeps the server's
 * max-deliveries advisories for the consumer, so a dead letter is kept even when no spool was
 * connected as the message ran out of attempts.
 *
 * @example
 * deadLetterStreamName("mms") // "mms_dead"
 */
export function deadLetterStreamName(stream: string): string {
  return `${stream}_dead`;
}

/**
 * The subject the server announces a message that ran out of deliveries on.
 *
 * @example
 * maxDeliveriesSubject("mms", "spool") // "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.mms.spool"
 */
export function maxDeliveriesSubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

/**
 * Creates what is missing and checks what is there; rejects with {@link StreamMismatch} when
 * an existing stream or consumer is configured otherwise.
 *
 * @example
 * await ensureStreams(jsm, settings);
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  settings: JetStreamSettings,
): Promise<void> {
  const { stream, subjects, replicas, consumer } = settings;
  const found = await streamInfo(jsm, stream);
  if (found === null) {
    await jsm.streams.add({
      name: stream,
      subjects: [...subjects],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
  } else {
    const { retention, num_replicas, duplicate_window } = found.config;
    mustBe(stream, "retention", retention, RetentionPolicy.Workqueue);
    mustBe(stream, "replicas", num_replicas, replicas);
    if (duplicate_window < nanos(settings.retryForMs)) {
      mustBe(stream, "duplicate_window (ns)", duplicate_window, nanos(DUPLICATE_WINDOW_MS));
    }
  }
  const dead = deadLetterStreamName(stream);
  if ((await streamInfo(jsm, dead)) === null) {
    await jsm.streams.add({
      name: dead,
      subjects: [maxDeliveriesSubject(stream, consumer)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: replicas,
    });
  }
  await ensureConsumer(jsm, settings);
}

async function ensureConsumer(jsm: JetStreamManager, settings: JetStreamSettings): Promise<void> {
  const { stream, consumer, config } = settings;
  const wanted = {
    durable_name: consumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(config.leaseMs),
    max_deliver: config.maxAttempts,
    max_ack_pending: LEASES_PENDING_MAX,
  };
  const found = await jsm.consumers.info(stream, consumer).catch((error: unknown) => {
    if (isNotFound(error)) return null;
    throw error;
  });
  if (found === null) {
    await jsm.consumers.add(stream, wanted);
    return;
  }
  const where = `${stream} consumer ${consumer}`;
  mustBe(where, "ack_policy", found.config.ack_policy, AckPolicy.Explicit);
  mustBe(where, "ack_wait (leaseMs, in ns)", found.config.ack_wait, wanted.ack_wait);
  mustBe(where, "max_deliver (maxAttempts)", found.config.max_deliver, wanted.max_deliver);
}

async function streamInfo(jsm: JetStreamManager, stream: string) {
  return jsm.streams.info(stream).catch((error: unknown) => {
    if (isNotFound(error)) return null;
    throw error;
  });
}

/** JetStream's "stream not found" (10059) and "consumer not found" (10014). */
function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === 10059 || error.code === 10014);
}

function mustBe(stream: string, field: string, found: unknown, expected: unknown): void {
  if (found !== expected) {
    throw new StreamMismatch({ stream, field, found: String(found), expected: String(expected) });
  }
}

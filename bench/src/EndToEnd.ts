/**
 * The end-to-end cases: messages through the whole queue, producers and consumers at once.
 * Producers append 1 KiB durably; consumers take, do nothing with the message, and ack it
 * durably; producers are held back while the backlog (appended minus acked) is at its bound,
 * so the acked msgs/s a row reports is what the queue keeps up with, and its latency (append →
 * handler) is that of a queue that keeps up, not of a backlog growing for the whole run.
 */
import { rmSync } from "node:fs";
import { type Consumer, type Lease, openSpool, type Spool } from "@spool/actors";
import { openJetStreamConsumer } from "./JetStreamSystems.js";
import {
  type CaseResult,
  type CaseSpec,
  latencyHistogram,
  summarize,
  warmUpMsOf,
} from "./Measurement.js";
import { oneFileAtATime } from "./OneFileAtATime.js";
import { lmdbQueue, sqliteQueue } from "./QueuePeers.js";

/**
 * The most messages a consumer takes at once (`takeMany`, a claim's `LIMIT`): a take's and an
 * ack's durable write is then shared by up to 16 messages, as the 16-writer append rows share
 * one flush (mean batch 16 in the 09:34 run); more would only hold messages back from other
 * consumers (64 consumers already hold up to 1,024).
 */
export const TAKE_BATCH_MAX = 16;

/**
 * The backlog bound, in consumer batches per consumer: one batch for each of the four places a
 * message passes (being appended, ready, being handled, being acked). With less, consumers
 * wait on the producers' flushes and the rows measure the appenders; with no bound (the
 * unbounded rows this replaces) producers outran consumers and append → handler latency grew
 * for the whole run (p50 1.2-1.9 s in the 09:34 run).
 */
export const BACKLOG_BATCHES_PER_CONSUMER = 4;

/** Messages appended and not yet acked that producers wait behind. @example backlogMax(64) // 4,096 */
export const backlogMax = (consumers: number): number =>
  BACKLOG_BATCHES_PER_CONSUMER * consumers * TAKE_BATCH_MAX;

/** A message a consumer took: its seq for the ack, and its payload. */
export interface Taken {
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** A queue whose consumers take and ack themselves. */
export interface TakeAckQueue {
  /** A producer's append: resolves once the message is durable (and so may be taken). */
  readonly appender: () => (payload: Uint8Array) => Promise<unknown>;
  /** Up to `countMax` ready messages, leased; none when none is ready. */
  readonly take: (countMax: number) => Promise<readonly Taken[]>;
  /** Resolves once the ack is durable. */
  readonly ack: (seq: number) => Promise<unknown>;
  readonly close: () => Promise<void>;
}

/** What consumers report to the case: each message handed to a handler, and durable acks. */
interface ConsumerHooks {
  readonly delivered: (payload: Uint8Array) => void;
  readonly acked: (count: number) => void;
  readonly ready: ReadySignal;
  readonly stopping: () => boolean;
  /** Resolves when the producers stop: the consumers stop then. */
  readonly stopped: Promise<void>;
}

/** A system under an end-to-end case. */
interface EndToEndQueue {
  readonly appender: () => (payload: Uint8Array) => Promise<unknown>;
  readonly startConsumers: (consumers: number, hooks: ConsumerHooks) => Promise<void>;
  readonly close: () => Promise<void>;
}

/**
 * Appends made durable since a consumer last looked: a consumer that found nothing waits for
 * the next one, unless one came while it looked (the generation it saw moved on), so no
 * wake-up is lost and no consumer polls.
 */
class ReadySignal {
  generation = 0;
  #waiting: (() => void)[] = [];

  /** One more message is ready: one waiting consumer looks again. */
  notify(): void {
    this.generation += 1;
    this.#waiting.shift()?.();
  }

  /** Resolves at the next `notify` after `generation` (at once if one came since). */
  after(generation: number): Promise<void> {
    if (generation !== this.generation) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  wakeAll(): void {
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}

/** Admission of producers: at most `max` messages appended and not acked. */
class Backlog {
  #count = 0;
  readonly #max: number;
  #waiting: (() => void)[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  /** Admits one message now (undefined), or resolves once it is admitted. */
  admit(): Promise<void> | undefined {
    if (this.#count < this.#max) {
      this.#count += 1;
      return undefined;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(count: number): void {
    this.#count -= count;
    while (this.#count < this.#max && this.#waiting.length > 0) {
      this.#count += 1;
      this.#waiting.shift()!();
    }
  }

  wakeAll(): void {
    for (const resolve of this.#waiting.splice(0)) resolve();
  }
}

/** A consumer of a take-ack queue: take a batch, hand each on, ack them all, again. */
async function takeAckConsumer(queue: TakeAckQueue, hooks: ConsumerHooks): Promise<void> {
  while (!hooks.stopping()) {
    const generation = hooks.ready.generation;
    const taken = await queue.take(TAKE_BATCH_MAX);
    if (taken.length === 0) {
      await hooks.ready.after(generation);
      continue;
    }
    for (const message of taken) hooks.delivered(message.payload);
    await Promise.all(taken.map((message) => queue.ack(message.seq)));
    hooks.acked(taken.length);
  }
}

function takeAckSystem(queue: TakeAckQueue): EndToEndQueue {
  return {
    appender: queue.appender,
    startConsumers: async (consumers, hooks) => {
      await Promise.all(Array.from({ length: consumers }, () => takeAckConsumer(queue, hooks)));
    },
    close: queue.close,
  };
}

/** `spool-take-ack`: consumers loop over `takeMany` and `ack` themselves. */
function spoolTakeAck(spool: Spool): TakeAckQueue {
  return {
    appender: () => {
      const writer = spool.writer();
      return (payload) => writer.append(payload);
    },
    take: (countMax) => spool.takeMany(countMax),
    ack: (seq) => spool.ack(seq),
    close: () => spool.close(),
  };
}

/**
 * How often `spool-consume` reads the spool's count of durable acks: its handlers see a message,
 * not its ack (`consume` frees a handler's slot before the ack is durable), so the case counts
 * the acks `stats().acks` reports, a few hundred at a time at most at 100k msgs/s.
 */
const ACK_POLL_MS = 2;

/** What `spool-consume` needs of a spool: a disk spool's, or a JetStream spool's. */
interface ConsumingSpool {
  writer(): { append(payload: Uint8Array): Promise<unknown> };
  consume(handler: (lease: Lease) => void, options: { readonly concurrency: number }): Consumer;
  stats(): { readonly acks: number };
}

/**
 * `spool-consume` (and `spool-jetstream-consume-r*`): Spool's own loop, `consumers` handlers
 * at a time; acks are counted once durable, from `stats().acks`.
 */
function spoolConsume(spool: ConsumingSpool, close: () => Promise<void>): EndToEndQueue {
  return {
    appender: () => {
      const writer = spool.writer();
      return (payload) => writer.append(payload);
    },
    startConsumers: async (consumers, hooks) => {
      let counted = spool.stats().acks;
      const countAcks = (): void => {
        const acks = spool.stats().acks;
        if (acks > counted) hooks.acked(acks - counted);
        counted = acks;
      };
      const poll = setInterval(countAcks, ACK_POLL_MS);
      const consumer = spool.consume((lease) => hooks.delivered(lease.payload), {
        concurrency: consumers,
      });
      await hooks.stopped;
      await consumer.stop();
      clearInterval(poll);
      countAcks();
    },
    close,
  };
}

async function openEndToEnd(
  spec: CaseSpec,
  natsServers: string | undefined,
): Promise<EndToEndQueue> {
  if (spec.system === "sqlite-queue") return takeAckSystem(await sqliteQueue(spec.dir));
  if (spec.system === "lmdb-queue") return takeAckSystem(await lmdbQueue(spec.dir));
  if (natsServers !== undefined) {
    const { spool, close } = await openJetStreamConsumer(spec, natsServers);
    return spoolConsume(spool, close);
  }
  const spool = await openSpool({
    dir: spec.dir,
    segmentByteSize: spec.segmentByteSize,
    ...(spec.system === "spool-consume-one-file-at-a-time" ? { adapter: oneFileAtATime() } : {}),
  });
  return spec.system === "spool-take-ack"
    ? takeAckSystem(spoolTakeAck(spool))
    : spoolConsume(spool, () => spool.close());
}

/**
 * Runs an end-to-end case: `spec.writers` producers and `spec.consumers` consumers for the
 * warm-up and `spec.seconds`, counting durable acks and append → handler latency in between.
 * A JetStream row runs on `natsServers` (comma-separated URLs).
 */
export async function runEndToEnd(spec: CaseSpec, natsServers?: string): Promise<CaseResult> {
  const consumers = spec.consumers;
  if (consumers === undefined) throw new Error(`${spec.system}: no consumers in its spec`);
  const queue = await openEndToEnd(spec, natsServers);
  const histogram = latencyHistogram();
  const backlog = new Backlog(backlogMax(consumers));
  const ready = new ReadySignal();
  let measuring = false;
  let stopping = false;
  let acked = 0;
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const hooks: ConsumerHooks = {
    delivered: (payload) => {
      if (!measuring) return;
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      const latencyMs = performance.now() - view.getFloat64(0, true);
      histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
    },
    acked: (count) => {
      backlog.release(count);
      if (measuring) acked += count;
    },
    ready,
    stopping: () => stopping,
    stopped,
  };
  const payload = new Uint8Array(spec.payloadByteSize).fill(42);
  const producer = async (): Promise<void> => {
    const append = queue.appender();
    while (!stopping) {
      const admitted = backlog.admit();
      if (admitted !== undefined) await admitted;
      if (stopping) return;
      // Each payload carries its append time, so a delivery's latency is append → handler.
      const stamped = payload.slice();
      new DataView(stamped.buffer).setFloat64(0, performance.now(), true);
      await append(stamped);
      ready.notify();
    }
  };
  const eluStart = performance.eventLoopUtilization();
  const consuming = queue.startConsumers(consumers, hooks);
  const producing = Promise.all(Array.from({ length: spec.writers }, producer));
  const window = await measuredWindow(spec, (on) => {
    measuring = on;
  });
  stopping = true;
  backlog.wakeAll();
  ready.wakeAll();
  stop();
  await producing;
  await consuming;
  const eventLoopUtilization = performance.eventLoopUtilization(eluStart).utilization;
  await queue.close();
  rmSync(spec.dir, { recursive: true, force: true });
  // Flushes are left out: Spool counts its data file's alone, SQLite commits carry appends,
  // claims and acks together, and lmdb-js tells none, so no two would count the same thing.
  return summarize(spec, acked, window.seconds, null, histogram, eventLoopUtilization, window.cpu);
}

/**
 * Waits out the case's warm-up, then measures for its `seconds`: `measure(true)` at the start
 * and `measure(false)` at the end, on the timers; the window's length and CPU time are taken
 * where the flag flips, so a late timer lengthens the window it measures.
 */
async function measuredWindow(
  spec: CaseSpec,
  measure: (on: boolean) => void,
): Promise<{ seconds: number; cpu: NodeJS.CpuUsage }> {
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await pause(warmUpMsOf(spec));
  const startedAt = performance.now();
  const cpuAtStart = process.cpuUsage();
  measure(true);
  await pause(spec.seconds * 1000);
  measure(false);
  return {
    seconds: (performance.now() - startedAt) / 1000,
    cpu: process.cpuUsage(cpuAtStart),
  };
}

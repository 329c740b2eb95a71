/**
 * `openJetStreamSpool` and `JetStreamSpool`: Spool's API on a NATS JetStream stream. Writers
 * hand their requests to the same synchronizer machine as on disk (claim 34's lock, receipt,
 * write confirmation and confirmation of it); the machine gathers a batch by the same flush
 * conditions and hands it to a {@link JetStreamLog}, where a disk spool writes and flushes it.
 * Consumers lease the stream's messages through its durable pull consumer ({@link StreamQueue}).
 */
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  type BatchReport,
  BatchReports,
  type ConsumeOptions,
  type Consumer,
  checkFunction,
  checkSeq,
  type FailureListener,
  FailureSignal,
  type Lease,
  type SpoolApi,
  Synchronizer,
  startConsumer,
  type Writer,
  WriterHandles,
} from "@spool/actors";
import {
  byteOffset,
  ConfigInvalid,
  SpoolClosed,
  type SpoolConfig,
  segmentNumber,
  seq,
} from "@spool/core";
import { ClusterUnavailable, reasonOf } from "./JetStreamError.js";
import { JetStreamLog } from "./JetStreamLog.js";
import {
  type JetStreamSettings,
  type JetStreamSpoolOptions,
  jetStreamSettings,
} from "./JetStreamOptions.js";
import type { StreamDeadLetter } from "./StreamDeadLetters.js";
import { type StreamMessageState, StreamQueue, type StreamQueueStats } from "./StreamQueue.js";
import { type StreamRecord, streamRecords } from "./StreamRecords.js";
import { ensureStreams } from "./Streams.js";

/** What `stats()` reports of a spool on JetStream. @example spool.stats().flushes */
export interface JetStreamSpoolStats extends StreamQueueStats {
  readonly adapter: "jetstream";
  readonly state: string;
  readonly replicas: number;
  /** Batches the synchronizer handed to the stream, and why each was closed. */
  readonly flushes: number;
  readonly flushReasons: ReturnType<Synchronizer["stats"]>["flushReasons"];
  readonly records: number;
  /** As the synchronizer sizes them: payloads with Spool's record framing (a 40-byte header, 8-byte aligned). */
  readonly bytes: number;
  readonly batchRecordsMean: number;
  readonly batchRecordsMax: number;
  readonly parked: number;
  readonly skipped: number;
  readonly confirmationsReceived: number;
  /** Publishes sent again after their acknowledgement did not come, and those the stream had. */
  readonly publishesResent: number;
  readonly publishesDuplicate: number;
}

/**
 * Opens a spool on a JetStream stream: connects, creates the stream, its dead-letter stream
 * and the durable consumer when missing (checks them when present), and starts the
 * synchronizer. Rejects with `ConfigInvalid` for bad options (or a `recordPayloadByteSizeMax`
 * above the server's `max_payload`), `StreamMismatch` for a stream configured otherwise, and
 * `ClusterUnavailable` when the cluster does not answer.
 *
 * @example
 * const spool = await openJetStreamSpool({ servers: "nats://127.0.0.1:4222", stream: "mms", replicas: 1 });
 * const { seq } = await spool.writer().append("hello");
 * await spool.close();
 */
export async function openJetStreamSpool(options: JetStreamSpoolOptions): Promise<JetStreamSpool> {
  const settings = jetStreamSettings(options);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: [...settings.servers],
      name: settings.name,
      // Fail over among the servers for as long as the spool is open.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Spool wraps every client error in its own typed one: a stack captured for each request
      // (the client's default) cost about a third of the process's CPU per message.
      noAsyncTraces: true,
    });
  } catch (error) {
    throw new ClusterUnavailable({
      operation: "connect",
      stream: settings.stream,
      reason: reasonOf(error),
      cause: error,
    });
  }
  try {
    const config = payloadSized(settings, nc.info?.max_payload);
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, settings).catch((error: unknown) => {
      if (error instanceof Error && "_tag" in error) throw error;
      const reason = reasonOf(error);
      throw new ClusterUnavailable({
        operation: "open",
        stream: settings.stream,
        reason,
        cause: error,
      });
    });
    return new JetStreamSpool(nc, jsm, { ...settings, config });
  } catch (error) {
    await nc.close();
    throw error;
  }
}

/** The payload limit: the server's `max_payload`, or a smaller one the options set. */
function payloadSized(settings: JetStreamSettings, serverMax: number | undefined): SpoolConfig {
  const { config } = settings;
  if (serverMax === undefined) return config;
  if (!settings.payloadSizeGiven) return { ...config, recordPayloadByteSizeMax: serverMax };
  if (config.recordPayloadByteSizeMax > serverMax) {
    const message = `config.recordPayloadByteSizeMax: at most the server's max_payload (${serverMax} bytes), not ${config.recordPayloadByteSizeMax}`;
    throw new ConfigInvalid({ field: "config.recordPayloadByteSizeMax", message });
  }
  return config;
}

/**
 * An open spool on a JetStream stream. Its methods are `Spool`'s; where one cannot keep its
 * meaning on disk, its type says so: `messageState` and `depth` ask the stream (promises),
 * `take` leases for the consumer's ack wait (`leaseMs` at open), `records` yields what the
 * stream still holds (a work queue drops acked messages), and an append's confirmation is
 * `durability: "replicated"`.
 */
export class JetStreamSpool implements SpoolApi {
  /** Where it is, for errors and logs: the servers and the stream. */
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly stream: string;
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #settings: JetStreamSettings;
  readonly #log: JetStreamLog;
  readonly #queue: StreamQueue;
  readonly #synchronizer: Synchronizer;
  readonly #writers: WriterHandles;
  readonly #batches = new BatchReports();
  readonly #failure = new FailureSignal();
  #closing: Promise<void> | undefined;

  /** @internal Use {@link openJetStreamSpool}. */
  constructor(nc: NatsConnection, jsm: JetStreamManager, settings: JetStreamSettings) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#settings = settings;
    this.stream = settings.stream;
    this.dir = `${settings.servers.join(",")}/${settings.stream}`;
    this.config = settings.config;
    const js = jetstream(nc);
    this.#log = new JetStreamLog({
      nc,
      stream: settings.stream,
      subject: settings.subjects[0]!,
      replicas: settings.replicas,
      publishTimeoutMs: settings.publishTimeoutMs,
      retryForMs: settings.retryForMs,
    });
    this.#queue = new StreamQueue(nc, js, jsm, settings);
    this.#synchronizer = new Synchronizer({
      dir: this.dir,
      config: settings.config,
      adapter: this.#log,
      // The log numbers the records; the machine's own cursor only places them in its batch.
      cursor: { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) },
      clock: Date.now,
      onBatch: (report) => this.#batches.written(report),
      onFailure: (failure) => {
        this.#writers?.spoolFailed(failure);
        this.#failure.raise(failure);
      },
    });
    this.#writers = new WriterHandles({
      dir: this.dir,
      config: settings.config,
      synchronizer: this.#synchronizer,
      reserve: undefined,
    });
  }

  /** A new writer, as `Spool.writer`. Throws `SpoolClosed` after close. @example spool.writer("smsc-1") */
  writer(name?: string): Writer {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    return this.#writers.open(name);
  }

  /**
   * The stream's messages from `from` on, up to its last when the iteration began. A work
   * queue drops a message once acked: these are the messages not yet done.
   *
   * @example
   * for await (const record of spool.records({ from: 1 })) console.log(record.seq);
   */
  records(options: { readonly from?: number } = {}): AsyncGenerator<StreamRecord, void, undefined> {
    return streamRecords(this.#jsm, this.#settings.stream, options);
  }

  /** Leases the oldest ready message, or resolves undefined when none is ready. @example await spool.take() */
  async take(options: { readonly leaseMs?: number } = {}): Promise<Lease | undefined> {
    const [lease] = await this.#queue.takeMany(1, options);
    return lease;
  }

  /**
   * Leases up to `count` ready messages (one pull). `leaseMs`, if given, must be the
   * consumer's ack wait (`config.leaseMs` at open): a stream's leases all last that long.
   *
   * @example
   * const leases = await spool.takeMany(32);
   */
  takeMany(count: number, options: { readonly leaseMs?: number } = {}): Promise<Lease[]> {
    return this.#queue.takeMany(count, options);
  }

  /** Acks a leased message; resolves once the consumer's leader recorded it. @example await spool.ack(lease.seq) */
  ack(messageSeq: number): Promise<void> {
    return this.#queue.ack(messageSeq);
  }

  /** Gives a leased message back, delivered again after `retryAfterMs`. @example await spool.nack(seq, { retryAfterMs: 5000 }) */
  nack(messageSeq: number, options: { readonly retryAfterMs?: number } = {}): Promise<void> {
    return this.#queue.nack(messageSeq, options);
  }

  /** The dead letters (their attempts ran out), in seq order. @example await spool.deadLetters() */
  deadLetters(): Promise<StreamDeadLetter[]> {
    return this.#queue.deadLetters.list();
  }

  /** Deletes a dead letter from the stream. Rejects with `NotLeased` when none has that seq. @example await spool.purgeDeadLetter(seq) */
  purgeDeadLetter(messageSeq: number): Promise<void> {
    return this.#queue.deadLetters.purge(checkSeq(messageSeq));
  }

  /**
   * What became of a message: `leased` covers a message leased by any spool and one waiting
   * to be retried (the stream does not tell them apart). @example await spool.messageState(seq)
   */
  messageState(messageSeq: number): Promise<StreamMessageState> {
    return this.#queue.messageState(messageSeq);
  }

  /** Messages not yet done, dead letters excluded (the stream's count). @example await spool.depth() */
  depth(): Promise<number> {
    return this.#queue.depth();
  }

  /** Runs `handler` on messages as they become ready, as `Spool.consume`. @example spool.consume(handler, { concurrency: 8 }) */
  consume(handler: (lease: Lease) => Promise<void> | void, options: ConsumeOptions = {}): Consumer {
    return startConsumer(this.#queue, handler, options);
  }

  /** Counters of the synchronizer, the stream's publishes and the consumers. @example spool.stats().acks */
  stats(): JetStreamSpoolStats {
    const stats = this.#synchronizer.stats();
    const log = this.#log.counters();
    return {
      adapter: "jetstream",
      state: this.#synchronizer.state(),
      replicas: this.#settings.replicas,
      flushes: stats.flushes,
      flushReasons: stats.flushReasons,
      records: stats.recordsWritten,
      bytes: stats.bytesWritten,
      batchRecordsMean:
        stats.flushes === 0 ? 0 : Math.round((stats.recordsWritten / stats.flushes) * 100) / 100,
      batchRecordsMax: stats.batchRecordsMax,
      parked: stats.parked,
      skipped: stats.skipped,
      confirmationsReceived: stats.confirmationsReceived,
      publishesResent: log.resent,
      publishesDuplicate: log.duplicates,
      ...this.#queue.stats(),
    };
  }

  /** Calls `listener` with each batch once the stream acknowledged it; returns its remover. */
  onBatch(listener: (report: BatchReport) => void): () => void {
    return this.#batches.listen(listener);
  }

  /** The last batches, oldest first. */
  recentBatches(): readonly BatchReport[] {
    return this.#batches.recent();
  }

  /** Calls `listener` once if the spool stops on a fault of its own, as `Spool.onFailure`. */
  onFailure(listener: FailureListener): () => void {
    checkFunction(listener, "listener");
    return this.#failure.listen(listener);
  }

  /** The synchronizer, for observation (its actor) and tests. */
  get synchronizer(): Synchronizer {
    return this.#synchronizer;
  }

  /** Sends every append already made, waits for their acknowledgements, then disconnects. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        this.#writers.closeLocal();
        await this.#synchronizer.close();
        this.#writers.closeRemote();
        this.#queue.close();
        await this.#log.close();
        await this.#nc.drain().catch(() => this.#nc.close());
      })();
    }
    return this.#closing;
  }
}

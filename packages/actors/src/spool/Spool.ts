/**
 * `openSpool` and `Spool`: the facade over one spool directory. It composes the adapter, the
 * synchronizer and the writers, and leaves each concern to its own module: opening and
 * recovery (`Recovery.ts`), the writers (`WriterHandles.ts`), the consumers' queue
 * (`SpoolQueue.ts`, `Consumer.ts`), the disk budget and reclaiming (`DiskBudget.ts`), reading
 * the log back (`DurableRecords.ts`), and what observers see (`SpoolStats.ts`, `BatchReports.ts`).
 */
import { MessageChannel, type MessagePort } from "node:worker_threads";
import {
  type FlushAdapter,
  type PlacedWrite,
  SpoolClosed,
  type SpoolConfig,
  type SpoolFailed,
} from "@spool/core";
import { checkFunction } from "../internal/Arguments.js";
import { PayloadReader } from "../internal/PayloadReader.js";
import { type BatchReport, Synchronizer } from "../synchronizer/Synchronizer.js";
import {
  type Link,
  portLink,
  type RemoteEndpoint,
  type ToSpool,
  type ToWriter,
} from "../transports/WriterPort.js";
import type { SenderRuntime, Writer } from "../writers/Writer.js";
import { WriterHandles } from "../writers/WriterHandles.js";
import { BatchReports } from "./BatchReports.js";
import { type ConsumeOptions, type Consumer, startConsumer } from "./Consumer.js";
import { DiskBudget } from "./DiskBudget.js";
import { type DurableRecord, durableRecords } from "./DurableRecords.js";
import type { IndexFile } from "./IndexFile.js";
import {
  type OpenReport,
  type OpenSpoolOptions,
  type RecoveredSpool,
  recoverSpool,
} from "./Recovery.js";
import type { SpoolApi } from "./SpoolApi.js";
import { type FailureListener, FailureSignal } from "./SpoolFailure.js";
import { type DeadLetter, type Lease, type MessageState, SpoolQueue } from "./SpoolQueue.js";
import { type SpoolStats, spoolStats } from "./SpoolStats.js";

export { RECENT_BATCHES } from "./BatchReports.js";
export type { Consumer } from "./Consumer.js";
export type { DurableRecord } from "./DurableRecords.js";
export type { OpenReport, OpenSpoolOptions } from "./Recovery.js";
export type { DeadLetter, Lease, MessageState } from "./SpoolQueue.js";
export type { SpoolStats } from "./SpoolStats.js";

/**
 * Opens (or creates) a spool.
 *
 * @example
 * const spool = await openSpool({ dir: "./spool-data" });
 * const { seq } = await spool.writer().append("hello");
 * await spool.close();
 */
export async function openSpool(options: OpenSpoolOptions): Promise<Spool> {
  return recoverSpool(options, (recovered) => new Spool(recovered));
}

/**
 * An open spool. Get writers from it, read its durable records, close it.
 *
 * @example
 * const spool = await openSpool({ dir: "./spool-data" });
 */
export class Spool implements SpoolApi {
  /** The spool directory. */
  readonly dir: string;
  /** The configuration in force (defaults applied). */
  readonly config: SpoolConfig;
  /** What opening found and did. */
  readonly recovery: OpenReport;
  readonly #adapter: FlushAdapter;
  readonly #index: IndexFile;
  readonly #queue: SpoolQueue;
  readonly #budget: DiskBudget;
  readonly #writers: WriterHandles;
  readonly #batches = new BatchReports();
  readonly #failure = new FailureSignal();
  readonly #synchronizer: Synchronizer;
  #closing: Promise<void> | undefined;

  /** @internal Use {@link openSpool}. */
  constructor(recovered: RecoveredSpool) {
    const { dir, config, adapter, index, queue, deadLetterStore, cursor, clock } = recovered;
    this.dir = dir;
    this.config = config;
    this.recovery = recovered.recovery;
    this.#adapter = adapter;
    this.#index = index;
    // One reader for takes and for reclaiming, so both use the same read-ahead window.
    const reader = new PayloadReader(adapter, config.segmentByteSize);
    this.#budget = new DiskBudget({
      dir,
      config,
      adapter,
      index,
      queue,
      deadLetterStore,
      reader,
      segmentStarts: recovered.segmentStarts,
      tail: { segment: cursor.segment, offset: cursor.offset },
    });
    this.#queue = new SpoolQueue({
      dir,
      config,
      index,
      queue,
      deadLetterStore,
      reader,
      clock,
      lastDurableSeq: cursor.nextSeq - 1,
      closing: () => this.#closing !== undefined,
      reclaim: () => this.#budget.reclaim(),
    });
    const onFlushed = (writes: readonly PlacedWrite[]) => this.#flushed(writes);
    const onBatch = (report: BatchReport) => this.#batches.written(report);
    // A fault in either synchronizer stops both: the spool fails as one, with one error.
    const onFailure = (failure: SpoolFailed) => {
      index.failWith(failure);
      // Unset only while the synchronizer starts, before any remote writer could join.
      this.#writers?.spoolFailed(failure);
      this.#failure.raise(failure);
    };
    index.whenFailed((failure) => this.#synchronizer.failWith(failure));
    this.#synchronizer = new Synchronizer({
      dir,
      config,
      adapter,
      cursor,
      clock,
      onFlushed,
      onBatch,
      onFailure,
      ...recovered.extensions,
    });
    const reserve =
      config.diskBudgetBytes === null ? undefined : (size: number) => this.#budget.reserve(size);
    this.#writers = new WriterHandles({ dir, config, synchronizer: this.#synchronizer, reserve });
  }

  /**
   * A new writer (claim 34's thread or process), named for stats and logs. Throws
   * `SpoolClosed` after close, `InvalidArgument` for a name that is not a string.
   *
   * @example
   * const writer = spool.writer("smsc-1");
   */
  writer(name?: string): Writer {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    return this.#writers.open(name);
  }

  /**
   * The records in sequence order, from `from` (a seq) on, up to what was flushed when the
   * iteration began (an append made with `durability: "async"` is there once its asynchronous
   * flush completed). The first step rejects with `InvalidArgument` when `options` is not an
   * object or `from` not a whole number from 1.
   *
   * @example
   * for await (const record of spool.records({ from: 1 })) console.log(record.seq);
   */
  records(
    options: { readonly from?: number } = {},
  ): AsyncGenerator<DurableRecord, void, undefined> {
    return durableRecords(this.#adapter, this.config, this.#budget, options);
  }

  /**
   * Counters: flushes and their reasons, records, bytes, batch sizes, parked and skipped
   * requests, confirmations.
   *
   * @example
   * const { flushes, batchRecordsMean } = spool.stats();
   */
  stats(): SpoolStats {
    return spoolStats({
      adapterName: this.#adapter.name,
      synchronizer: this.#synchronizer,
      budget: this.#budget,
      queue: this.#queue,
      index: this.#index,
    });
  }

  /**
   * Calls `listener` with each batch once it is written and flushed (before its writers hear
   * of it); returns the function that stops it. For metrics and live views; a listener that
   * throws is dropped, so an observer cannot hold up confirmations. Throws `InvalidArgument`
   * (synchronously) when `listener` is not a function.
   *
   * @example
   * const stop = spool.onBatch((batch) => histogram.observe(batch.records));
   */
  onBatch(listener: (report: BatchReport) => void): () => void {
    return this.#batches.listen(listener);
  }

  /**
   * Calls `listener` once if the spool stops on a fault of its own (an exception inside the
   * synchronizer, a writer or the runtime, or an adapter throwing something that is not an
   * I/O error), after every pending append was rejected with the same {@link SpoolFailed}.
   * From then on `stats().state` is `"failed"` and every append rejects with it at once;
   * nothing acknowledged is lost, and reopening the spool goes on. Returns the function that
   * stops the listener; a listener that throws is ignored. Throws `InvalidArgument`
   * (synchronously) when `listener` is not a function.
   *
   * @example
   * spool.onFailure((failure) => { log.error(failure.message); process.exitCode = 1; });
   */
  onFailure(listener: FailureListener): () => void {
    checkFunction(listener, "listener");
    return this.#failure.listen(listener);
  }

  /** The last {@link RECENT_BATCHES} batches, oldest first. @example spool.recentBatches().at(-1) */
  recentBatches(): readonly BatchReport[] {
    return this.#batches.recent();
  }

  /**
   * A batch's flush completed: the disk budget follows it, then its appends become consumable
   * (claim 61: the queue's state follows the data).
   */
  #flushed(writes: readonly PlacedWrite[]): void {
    this.#budget.flushed(writes);
    this.#queue.enqueue(writes);
  }

  /**
   * Leases the oldest ready message for `leaseMs` (the `leaseMs` option by default), or
   * resolves undefined when none is ready. The lease is recorded in the index file (with its
   * attempt number, so `maxAttempts` holds across crashes) before it is handed out, except a
   * message's first lease in the open it was appended in: a crash loses that one count, once
   * (see the README's "Attempts are counted across crashes"). A message
   * whose attempts are used up becomes a dead letter instead. Rejects with `InvalidArgument`
   * when `options` is not an object or `leaseMs` is not a number of milliseconds from 1 to
   * `DURATION_MS_MAX` (a lease of 0 or less would be expired when handed out, so the next take
   * would hand the same message out again).
   *
   * @example
   * const lease = await spool.take({ leaseMs: 10_000 });
   */
  async take(options: { readonly leaseMs?: number } = {}): Promise<Lease | undefined> {
    const [lease] = await this.takeMany(1, options);
    return lease;
  }

  /**
   * Leases up to `count` ready messages at once, oldest first: their lease entries share one
   * flush of the index file. Resolves an empty array when none is ready. Rejects with
   * `InvalidArgument` when `count` is not a whole number from 1, or as {@link Spool.take} does.
   *
   * @example
   * const leases = await spool.takeMany(32, { leaseMs: 10_000 });
   */
  takeMany(count: number, options: { readonly leaseMs?: number } = {}): Promise<Lease[]> {
    return this.#queue.takeMany(count, options);
  }

  /**
   * Acknowledges a leased message: it is done. Resolves once that is durable in the index.
   * Rejects with `InvalidArgument` when `messageSeq` is not a whole number from 1, and with
   * `NotLeased` when it is one but that message is not leased now.
   *
   * @example
   * await spool.ack(lease.seq);
   */
  ack(messageSeq: number): Promise<void> {
    return this.#queue.ack(messageSeq);
  }

  /**
   * Gives a leased message back: it is delivered again after `retryAfterMs` (0 by default), or
   * becomes a dead letter when its attempts are used up. Resolves once durable in the index.
   * Rejects with `InvalidArgument` when `messageSeq` is not a whole number from 1 or
   * `retryAfterMs` not a number of milliseconds from 0 to `DURATION_MS_MAX`, and with
   * `NotLeased` when the message is not leased now.
   *
   * @example
   * await spool.nack(lease.seq, { retryAfterMs: 5_000 });
   */
  nack(messageSeq: number, options: { readonly retryAfterMs?: number } = {}): Promise<void> {
    return this.#queue.nack(messageSeq, options);
  }

  /**
   * The dead letters (messages whose attempts ran out), in seq order.
   *
   * @example
   * for (const letter of await spool.deadLetters()) console.log(letter.seq, letter.attempts);
   */
  deadLetters(): Promise<DeadLetter[]> {
    return this.#queue.deadLetters();
  }

  /**
   * Marks a dead letter done (after it was inspected or kept elsewhere), so its segment, and
   * those after it, can be reclaimed. Resolves once durable. Rejects with `InvalidArgument`
   * when `messageSeq` is not a whole number from 1, and with `NotLeased` when no dead letter
   * has it.
   *
   * @example
   * for (const letter of await spool.deadLetters()) await spool.purgeDeadLetter(letter.seq);
   */
  purgeDeadLetter(messageSeq: number): Promise<void> {
    return this.#queue.purgeDeadLetter(messageSeq);
  }

  /**
   * What became of the message with this seq: `queued` (waiting for a consumer), `leased` (a
   * consumer has it), `retryWait` (nacked, waiting to be retried), `dead` (attempts used up),
   * `done` (acknowledged or purged), or `unknown` (no flushed message has this seq yet; an
   * async append counts once its asynchronous flush completed). Throws `InvalidArgument`
   * (synchronously) when `messageSeq` is not a whole number from 1.
   *
   * @example
   * if (spool.messageState(seq) === "done") console.log("delivered");
   */
  messageState(messageSeq: number): MessageState {
    return this.#queue.messageState(messageSeq);
  }

  /** Messages not yet done, dead letters excluded: the queue depth. */
  depth(): number {
    return this.#queue.depth();
  }

  /**
   * Runs `handler` on messages as they become ready, `concurrency` at a time: a handler that
   * resolves acks its message, one that throws nacks it (retried after `retryAfterMs`). Throws
   * `InvalidArgument` (synchronously) when `handler` is not a function, `options` not an
   * object, `concurrency` not a whole number from 1, `leaseMs` or `pollMs` not a number of
   * milliseconds from 1 to `DURATION_MS_MAX`, or a numeric `retryAfterMs` not one from 0. A
   * `retryAfterMs` function that returns no such number stops the consumer: `stop()` rejects
   * with that `InvalidArgument`. A handler's slot frees when it finishes, before its ack is
   * durable (up to 4 answers per handler wait for the index's flush); `stop()` resolves once
   * every answer made is durable.
   *
   * @example
   * const consumer = spool.consume(async ({ payload }) => deliver(payload), { concurrency: 8 });
   * await consumer.stop();
   */
  consume(handler: (lease: Lease) => Promise<void> | void, options: ConsumeOptions = {}): Consumer {
    return startConsumer(this.#queue, handler, options);
  }

  /** This thread's claim-34 writer, for observation (its actor) and tests. */
  get sender(): SenderRuntime {
    return this.#writers.sender;
  }

  /** The synchronizer, for observation (its actor) and tests. */
  get synchronizer(): Synchronizer {
    return this.#synchronizer;
  }

  /**
   * A port for a writer in a worker thread (claim 34 across threads): transfer it to the
   * worker and call `connectWriter(port)` there. The writer shares this spool's lock and
   * synchronizer; when its thread exits, its port closes and the spool forgets it. By default
   * the writer takes the lock itself and hands its requests over in shared memory (a request
   * ring of 4 MiB); `sharedMemory: false` carries them as port messages instead.
   *
   * @example
   * const port = spool.port();
   * new Worker(file, { workerData: { port }, transferList: [port] });
   */
  port(options: { readonly sharedMemory?: boolean } = {}): MessagePort {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    const { port1, port2 } = new MessageChannel();
    this.#writers.remote(portLink(port1), options.sharedMemory ?? true);
    return port2;
  }

  /**
   * @internal The spool's end of a remote writer's link (a thread's port, a process's socket):
   * registered with the synchronizer until the link closes or the spool does.
   */
  remoteWriter(link: Link<ToSpool, ToWriter>): RemoteEndpoint {
    if (this.#closing !== undefined) throw new SpoolClosed({ dir: this.dir });
    return this.#writers.remote(link);
  }

  /**
   * Drains, flushes and confirms every append already made, then closes the files. Idempotent.
   *
   * @example
   * await spool.close();
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        // Appends made before close() are drained, not refused.
        this.#writers.closeLocal();
        await this.#synchronizer.close();
        this.#writers.closeRemote();
        await this.#budget.settled();
        await this.#index.close();
        await this.#adapter.close();
        this.#queue.wakeAll();
      })();
    }
    return this.#closing;
  }
}

/**
 * The synchronizer runtime: the intake mailbox in front of the {@link synchronizerMachine}, the
 * registry of writer endpoints, and the invoked actors that do the machine's I/O through a
 * {@link FlushAdapter}.
 */
import {
  type AppendCursor,
  type AppendError,
  type BatchId,
  byteOffset,
  byteSize,
  encodeRecord,
  type FlushAdapter,
  type FlushFailed,
  type Region,
  type RequestId,
  type Seq,
  SpoolClosed,
  type SpoolConfig,
  type StorageFailed,
  segmentNumber,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import { type Actor, createActor, fromCallback, fromPromise } from "xstate";
import {
  type LogPosition,
  type SynchronizerStats,
  synchronizerMachine,
  type WriteOutcome,
} from "./SynchronizerMachine.js";

// 65536 requests between two drains: a drain runs every microtask, so this bounds only a
// writer that appends in a tight synchronous loop; past it, receipts wait and the lock holds.
const INTAKE_COUNT_MAX = 65536;

/** The write confirmation a writer receives for its requests in one batch. */
export interface WrittenNotice {
  readonly batchId: BatchId;
  readonly requestIds: readonly RequestId[];
  readonly seqs: readonly Seq[];
  readonly level: WriteOutcome["level"];
}

/** How the synchronizer reaches a writer, wherever it runs. */
export interface WriterEndpoint {
  readonly id: WriterId;
  /** The write confirmation; the writer calls `confirm` (its confirmation of confirmation). */
  written(notice: WrittenNotice, confirm: () => void): void;
  /** These requests were skipped (temporary storage was full): send them again now. */
  resend(requests: readonly WriteRequest[]): void;
  /** These requests failed and will never be written. */
  failed(requests: readonly WriteRequest[], error: AppendError): void;
}

/** What starts a synchronizer. */
export interface SynchronizerOptions {
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly adapter: FlushAdapter;
  readonly cursor: AppendCursor;
  readonly clock: () => number;
}

type Receipt = () => void;

/** One synchronizer per spool directory. */
export class Synchronizer {
  readonly #options: SynchronizerOptions;
  readonly #endpoints = new Map<WriterId, WriterEndpoint>();
  readonly #actor: Actor<typeof synchronizerMachine>;
  #intake: WriteRequest[] = [];
  #waitingForReceipt: { request: WriteRequest; receipt: Receipt } | undefined;
  #drainScheduled = false;
  #closing = false;
  readonly #done: Promise<void>;

  constructor(options: SynchronizerOptions) {
    this.#options = options;
    const machine = synchronizerMachine.provide({
      actors: {
        mapSegment: fromPromise(async ({ input }) => this.#mapSegment(input.segment)),
        writeBatch: fromPromise(async ({ input }) => this.#writeBatch(input)),
        confirmBatch: fromCallback(({ input, sendBack }) => this.#confirmBatch(input, sendBack)),
        notifySkipped: fromPromise(async ({ input }) => this.#notifySkipped(input.requests)),
        rejectWriters: fromPromise(async ({ input }) =>
          this.#rejectWriters(input.requests, input.failure),
        ),
      },
    });
    this.#actor = createActor(machine, {
      input: { config: options.config, cursor: options.cursor, nowMs: options.clock() },
    });
    this.#done = new Promise((resolve) => {
      this.#actor.subscribe({ complete: () => resolve(), error: () => resolve() });
    });
    this.#actor.start();
  }

  /** Registers a writer so write confirmations can reach it. */
  register(endpoint: WriterEndpoint): void {
    if (this.#endpoints.has(endpoint.id)) throw new Error(`writer ${endpoint.id} registered twice`);
    this.#endpoints.set(endpoint.id, endpoint);
  }

  /** Forgets a writer; a batch still waiting for its confirmation counts it as vanished. */
  unregister(id: WriterId): void {
    this.#endpoints.delete(id);
  }

  /**
   * Claim 34: queue the request and call `receipt` once it is queued (at once, unless the
   * intake is full). Returns an error instead when the spool takes no more writes.
   */
  send(request: WriteRequest, receipt: Receipt): AppendError | undefined {
    const refusal = this.#refusal();
    if (refusal !== undefined) return refusal;
    if (this.#waitingForReceipt !== undefined)
      throw new Error("a second request while the lock is held");
    if (this.#intake.length >= INTAKE_COUNT_MAX) {
      this.#waitingForReceipt = { request, receipt };
    } else {
      this.#intake.push(request);
      receipt();
    }
    if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      queueMicrotask(this.#drain);
    }
    return undefined;
  }

  #refusal(): AppendError | undefined {
    if (this.#closing) return new SpoolClosed({ dir: this.#options.dir });
    const snapshot = this.#actor.getSnapshot();
    if (snapshot.context.failure !== null) return snapshot.context.failure;
    if (snapshot.status !== "active") return new SpoolClosed({ dir: this.#options.dir });
    return undefined;
  }

  readonly #drain = (): void => {
    this.#drainScheduled = false;
    const requests = this.#intake;
    this.#intake = [];
    const waiting = this.#waitingForReceipt;
    this.#waitingForReceipt = undefined;
    if (requests.length > 0) {
      this.#actor.send({ type: "sync.requests", requests, atMs: this.#options.clock() });
    }
    if (waiting !== undefined) {
      this.#intake.push(waiting.request);
      waiting.receipt();
      this.#drainScheduled = true;
      queueMicrotask(this.#drain);
    }
  };

  /** Drains, flushes and confirms everything received, then stops. Idempotent. */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      // Requests already received are still written: drain the intake before closing.
      queueMicrotask(() => {
        this.#drain();
        this.#actor.send({ type: "sync.close", atMs: this.#options.clock() });
      });
    }
    return this.#done;
  }

  /** Counters, and where durable data ends. */
  stats(): SynchronizerStats {
    return this.#actor.getSnapshot().context.stats;
  }

  /** The end of the bytes known durable. */
  durableThrough(): LogPosition {
    return this.#actor.getSnapshot().context.durableThrough;
  }

  /** The machine's current state value, for observation and tests. */
  state(): string {
    const value = this.#actor.getSnapshot().value;
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  /** The synchronizer actor, for inspection (`actor.subscribe`). */
  get actor(): Actor<typeof synchronizerMachine> {
    return this.#actor;
  }

  async #mapSegment(segment: Region["segment"]): Promise<void> {
    const { adapter } = this.#options;
    await adapter.map(segment);
    // Pre-zero the next segment in the background so the roll finds it ready (claims 62-63).
    adapter.prepareSegment(segmentNumber(segment + 1)).catch(() => undefined);
  }

  async #writeBatch(input: {
    batch: import("@spool/core").Batch;
    unflushedFrom: LogPosition | null;
    nowMs: number;
  }): Promise<WriteOutcome> {
    const { adapter, config } = this.#options;
    const { batch, unflushedFrom } = input;
    const segment = batch.segment!;
    const region: Region = {
      segment,
      offset: batch.startOffset,
      byteSize: byteSize(batch.endOffset - batch.startOffset),
    };
    const window = adapter.stage(region);
    const appendedAtMs = this.#options.clock();
    for (const write of batch.writes) {
      const fields = { seq: write.seq, writerId: write.request.writerId, appendedAtMs };
      encodeRecord(window, write.offset - batch.startOffset, fields, write.request.payload);
    }
    await adapter.write(region);
    if (batch.durability === "async") {
      await adapter.flush(region, "async");
      return { level: "async" };
    }
    let flushRegion = region;
    if (unflushedFrom !== null) {
      // Earlier async batches' bytes are covered by this synchronous flush too.
      for (let s = unflushedFrom.segment; s < segment; s++) {
        const from = s === unflushedFrom.segment ? unflushedFrom.offset : 0;
        const earlier = {
          segment: segmentNumber(s),
          offset: byteOffset(from),
          byteSize: byteSize(config.segmentByteSize - from),
        };
        await adapter.flush(earlier, "sync");
      }
      const from = unflushedFrom.segment === segment ? unflushedFrom.offset : 0;
      flushRegion = {
        segment,
        offset: byteOffset(from),
        byteSize: byteSize(batch.endOffset - from),
      };
    }
    await adapter.flush(flushRegion, "sync");
    return { level: "flushed" };
  }

  #confirmBatch(
    input: { batch: import("@spool/core").Batch; level: WriteOutcome["level"] },
    sendBack: (event: {
      type: "writer.confirmed";
      batchId: BatchId;
      confirmed: number;
      vanished: number;
    }) => void,
  ): () => void {
    const { batch, level } = input;
    const groups = new Map<WriterId, { requestIds: RequestId[]; seqs: Seq[] }>();
    for (const write of batch.writes) {
      let group = groups.get(write.request.writerId);
      if (group === undefined) {
        group = { requestIds: [], seqs: [] };
        groups.set(write.request.writerId, group);
      }
      group.requestIds.push(write.request.id);
      group.seqs.push(write.seq);
    }
    let confirmed = 0;
    let vanished = 0;
    let open = true;
    let inLoop = true;
    let scheduled = false;
    const report = (): void => {
      scheduled = false;
      if (!open || confirmed + vanished === 0) return;
      const event = { type: "writer.confirmed" as const, batchId: batch.id, confirmed, vanished };
      confirmed = 0;
      vanished = 0;
      sendBack(event);
    };
    for (const [writerId, group] of groups) {
      const endpoint = this.#endpoints.get(writerId);
      if (endpoint === undefined) {
        vanished += 1;
        continue;
      }
      let once = false;
      endpoint.written({ batchId: batch.id, ...group, level }, () => {
        if (once) return;
        once = true;
        confirmed += 1;
        if (!inLoop && !scheduled) {
          scheduled = true;
          queueMicrotask(report);
        }
      });
    }
    inLoop = false;
    report();
    return () => {
      open = false;
    };
  }

  async #notifySkipped(requests: readonly WriteRequest[]): Promise<void> {
    for (const [writerId, own] of groupByWriter(requests)) {
      this.#endpoints.get(writerId)?.resend(own);
    }
  }

  async #rejectWriters(
    requests: readonly WriteRequest[],
    failure: FlushFailed | StorageFailed | null,
  ): Promise<void> {
    const error = failure ?? new SpoolClosed({ dir: this.#options.dir });
    for (const [writerId, own] of groupByWriter(requests)) {
      this.#endpoints.get(writerId)?.failed(own, error);
    }
  }
}

function groupByWriter(requests: readonly WriteRequest[]): Map<WriterId, WriteRequest[]> {
  const groups = new Map<WriterId, WriteRequest[]>();
  for (const request of requests) {
    const own = groups.get(request.writerId);
    if (own === undefined) groups.set(request.writerId, [request]);
    else own.push(request);
  }
  return groups;
}

/**
 * The synchronizer runtime: the intake mailbox in front of the {@link synchronizerLogic}, the
 * registry of writer endpoints, and the carrying out of the machine's commands: I/O through a
 * {@link FlushAdapter}, notices to writers.
 */
import {
  type AppendCursor,
  type AppendError,
  type Batch,
  type BatchId,
  byteOffset,
  byteSize,
  errorCode,
  type FlushAdapter,
  type FlushFailed,
  FlushFailed as FlushFailedError,
  type FlushMode,
  type FlushReason,
  type PlacedWrite,
  RecordEncoder,
  type Region,
  SpoolClosed,
  type SpoolConfig,
  SpoolFailed,
  type StorageFailed,
  StorageFailed as StorageFailedError,
  segmentNumber,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import { type Actor, createActor } from "xstate";
import {
  ConfirmationLatencies,
  type OwedConfirmation,
  OwedConfirmations,
} from "./internal/ConfirmDeadline.js";
import type { SlowWriters } from "./SlowWriters.js";
import { describeFault, isInputOutputError } from "./SpoolFailure.js";
import {
  type CourierCommand,
  type DiskCommand,
  heldRequests,
  type LogPosition,
  type SynchronizerCommand,
  type SynchronizerEvent,
  type SynchronizerPhase,
  type SynchronizerStats,
  synchronizerLogic,
  type WriteOutcome,
} from "./SynchronizerMachine.js";
import { asyncUnflushedByteSizeMax } from "./UnflushedBound.js";

// 65536 requests between two drains: a drain runs every microtask, so this bounds only
// writers that append in a tight synchronous loop; past it, receipts wait and the lock holds.
const INTAKE_COUNT_MAX = 65536;

/** The write confirmation a writer receives for its requests in one batch. */
export interface WrittenNotice {
  readonly batchId: BatchId;
  /** This writer's requests in the batch, in batch order, with their sequence numbers. */
  readonly writes: readonly PlacedWrite[];
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
  /**
   * Told of writes once durable, in batch order: a synchronous batch's before its writers are
   * confirmed, an `async` batch's once its asynchronous flush completed (see
   * `FlushAdapter.whenFlushed`). From then on readers and consumers may see them.
   */
  readonly onFlushed?: (writes: readonly PlacedWrite[]) => void;
  /** The wake and confirmation timers; {@link REAL_TIMERS} when omitted. */
  readonly timers?: SynchronizerTimers;
  /** Told of each batch once written and flushed, before its writers are confirmed. */
  readonly onBatch?: (report: BatchReport) => void;
  /**
   * Told once if the synchronizer stops on a fault (see {@link Synchronizer.fail}), after every
   * request it held was failed.
   */
  readonly onFailure?: (failure: SpoolFailed) => void;
}

/** One batch, as the synchronizer wrote it: for metrics and live views. @example report.records */
export interface BatchReport {
  readonly batchId: number;
  readonly records: number;
  readonly byteSize: number;
  /** The flush condition that closed the batch (claims 5-13). */
  readonly reason: FlushReason;
  readonly level: WriteOutcome["level"];
  /** When the write was issued (the clock's milliseconds). */
  readonly writtenAtMs: number;
  /** From issuing the write to its flush completing. */
  readonly writeMs: number;
}

type Receipt = () => void;

/**
 * What a writer needs of the synchronizer (claim 34): to be reachable for confirmations, and
 * to send a request group, getting a receipt once it is queued (or an error at once).
 */
export interface SynchronizerPort {
  register(endpoint: WriterEndpoint): void;
  send(requests: readonly WriteRequest[], receipt: () => void): AppendError | undefined;
  /**
   * A writer's own fault: stops what the writer reaches (the spool, for an in-process writer)
   * with a {@link SpoolFailed}, and returns it (the first, if it had failed already).
   */
  fail(reason: string, cause: unknown): SpoolFailed;
  /** The fault that stopped it, if one did: appends are refused with it at once. */
  failure(): SpoolFailed | undefined;
}

/**
 * What a timer is for: a timed flush trigger, a batch's confirmation deadline or timeout, or
 * the lapse of a confirmation a slow writer owes. Scripted timers fire each when told.
 *
 * @example { kind: "confirmLapse", writerId: writerId(2) }
 */
export type TimerPurpose =
  | { readonly kind: "wake" }
  | { readonly kind: "confirmDeadline" }
  | { readonly kind: "confirmTimeout" }
  | { readonly kind: "confirmLapse"; readonly writerId: WriterId };

/**
 * Where the synchronizer's timers run: `after` calls `fire` once after `ms` unless the returned
 * cancel function is called first. Real timers by default; tests pass a scripted clock.
 *
 * @example
 * const cancel = timers.after(10, () => wake(), { kind: "wake" });
 */
export interface SynchronizerTimers {
  after(ms: number, fire: () => void, purpose?: TimerPurpose): () => void;
}

/** Node's timers. */
export const REAL_TIMERS: SynchronizerTimers = {
  after(ms, fire) {
    const timer = setTimeout(fire, ms);
    return () => clearTimeout(timer);
  },
};

/** One synchronizer per spool directory. */
export class Synchronizer implements SynchronizerPort {
  readonly #options: SynchronizerOptions;
  readonly #endpoints = new Map<WriterId, WriterEndpoint>();
  readonly #actor: Actor<typeof synchronizerLogic>;
  /** Request groups received since the last drain, as their senders sent them (no copy). */
  #intake: (readonly WriteRequest[])[] = [];
  #intakeCount = 0;
  #waitingForReceipt: { requests: readonly WriteRequest[]; receipt: Receipt } | undefined;
  #drainScheduled = false;
  #closing = false;
  #preparedAhead = 0;
  /** The writes in flight (two when pipelining): when each started and why its batch was closed. */
  readonly #writing = new Map<BatchId, { startedAt: number; atMs: number; reason: FlushReason }>();
  /** The latest flush issued: the next waits for it (see #flushInTurn). */
  #flushTail: Promise<void> = Promise.resolve();
  #flushesInFlight = 0;
  /** The number of the last command carried out. */
  #commandsRun = 0;
  readonly #timers: SynchronizerTimers;
  /** Cancels of the confirmation timers that are armed. */
  readonly #confirmTimers = new Set<() => void>();
  #cancelWake: (() => void) | undefined;
  /** Writes of `async` batches not yet known durable, in batch order. */
  #notYetDurable: PlacedWrite[] = [];
  /** How many held async writes were reported before `#notYetDurable[0]`. */
  #notYetDurableFrom = 0;
  /** Recent confirmation latencies: the confirmation deadline follows them. */
  readonly #latencies = new ConfirmationLatencies();
  /** Confirmations owed by slow writers, lapsing at confirmTimeoutMs. */
  readonly #owed: OwedConfirmations;
  readonly #done: Promise<void>;
  #stop: () => void = () => undefined;
  /** The fault that stopped it: every request is refused with it from then on. */
  #failure: SpoolFailed | undefined;
  /** The event the machine is taking: if its transition throws, its requests are failed too. */
  #eventInProgress: SynchronizerEvent | undefined;

  constructor(options: SynchronizerOptions) {
    this.#options = options;
    this.#timers = options.timers ?? REAL_TIMERS;
    this.#owed = new OwedConfirmations({
      after: (ms, fire, writerId) =>
        this.#timers.after(ms, fire, { kind: "confirmLapse", writerId }),
      ceilingMs: options.config.confirmTimeoutMs,
      clock: options.clock,
      report: (writerId, confirmed, lapsed) =>
        this.#actor.send({ type: "writer.lateConfirmed", writerId, confirmed, lapsed }),
    });
    // An adapter that cannot take a second batch while one flushes keeps one on the disk.
    const config =
      options.adapter.pipelining === false
        ? { ...options.config, pipelineSplitByteSize: null }
        : options.config;
    // The transition is wrapped only to know which event it was taking if it throws.
    const logic: typeof synchronizerLogic = {
      ...synchronizerLogic,
      transition: (snapshot, event, scope) => {
        this.#eventInProgress = event;
        const next = synchronizerLogic.transition(snapshot, event, scope);
        this.#eventInProgress = undefined;
        return next;
      },
    };
    this.#actor = createActor(logic, {
      input: { config, cursor: options.cursor, nowMs: options.clock() },
    });
    this.#done = new Promise((resolve) => {
      this.#stop = (): void => {
        for (const cancel of this.#confirmTimers) cancel();
        this.#confirmTimers.clear();
        this.#owed.stop();
        this.#cancelWake?.();
        resolve();
      };
      this.#actor.subscribe({
        next: ({ context }) => {
          // A command that throws halfway would leave the machine waiting for an answer that
          // never comes: it is a fault.
          this.#guard("carrying out a synchronizer command", () =>
            this.#run(context.command, context.commandSeq),
          );
          if (context.phase === "closed") {
            this.#stop();
            // Stopped after this update: later events find the actor stopped and are dropped.
            queueMicrotask(() => this.#actor.stop());
          }
        },
        // xstate stops an actor whose transition threw, silently: here it fails the spool.
        error: (error) => this.fail(describeFault("the synchronizer machine", error), error),
      });
    });
    this.#actor.start();
  }

  /**
   * Stops the synchronizer on a fault (an exception where none is expected): every request it
   * holds or has received is failed with one {@link SpoolFailed}, every later one is refused
   * with it, `onFailure` hears it. Returns it (the first, when called again). Nothing
   * confirmed is touched: a batch already flushed stays on disk whether or not its writers
   * were told.
   */
  fail(reason: string, cause: unknown): SpoolFailed {
    if (this.#failure !== undefined) return this.#failure;
    return this.failWith(new SpoolFailed({ dir: this.#options.dir, reason, cause }));
  }

  /**
   * {@link Synchronizer.fail} with a failure raised elsewhere (the spool's other synchronizer),
   * so that one error reaches every caller.
   */
  failWith(failure: SpoolFailed): SpoolFailed {
    if (this.#failure !== undefined) return this.#failure;
    this.#failure = failure;
    const held = heldRequests(this.#actor.getSnapshot().context, { confirming: true });
    const event = this.#eventInProgress;
    this.#eventInProgress = undefined;
    if (event?.type === "sync.requests") held.push(...event.requests);
    for (const group of this.#intake) held.push(...group);
    this.#intake = [];
    this.#intakeCount = 0;
    const waiting = this.#waitingForReceipt;
    this.#waitingForReceipt = undefined;
    if (waiting !== undefined) held.push(...waiting.requests);
    this.#stop();
    if (this.#actor.getSnapshot().status === "active") this.#actor.stop();
    // Its sender holds the lock until this receipt: released, so the others reach the refusal.
    this.#settle(() => waiting?.receipt());
    for (const [senderId, own] of groupBySender(held, (request) => request.senderId)) {
      this.#settle(() => this.#endpoints.get(senderId)?.failed(own, failure));
    }
    this.#settle(() => this.#options.onFailure?.(failure));
    return failure;
  }

  /** The fault that stopped the synchronizer, if one did. */
  failure(): SpoolFailed | undefined {
    return this.#failure;
  }

  /** Runs `body`; an exception in it is a fault that fails the synchronizer. */
  #guard(where: string, body: () => void): void {
    try {
      body();
    } catch (error) {
      this.fail(describeFault(where, error), error);
    }
  }

  /**
   * Runs one step of failing: a writer that throws while being failed cannot keep the others
   * from being failed (its own appends are failed by its runtime's fault handling).
   */
  #settle(step: () => void): void {
    try {
      step();
    } catch {
      // Failing already; there is no further state to move to.
    }
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
   * Claim 34: queue a writer's requests and call `receipt` once they are queued (at once,
   * unless the intake is full). Returns an error instead when the spool takes no more writes.
   */
  send(requests: readonly WriteRequest[], receipt: Receipt): AppendError | undefined {
    const refusal = this.#refusal();
    if (refusal !== undefined) return refusal;
    if (this.#waitingForReceipt !== undefined)
      throw new Error("a second send while the lock is held");
    if (this.#intakeCount >= INTAKE_COUNT_MAX) {
      this.#waitingForReceipt = { requests, receipt };
    } else {
      this.#intake.push(requests);
      this.#intakeCount += requests.length;
      receipt();
    }
    if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      queueMicrotask(this.#drain);
    }
    return undefined;
  }

  /**
   * Why a request cannot be taken now. Closing is not a reason: appends made before close()
   * and skipped requests resent during the drain are still written; new appends are refused
   * by the closed writer handles.
   */
  #refusal(): AppendError | undefined {
    if (this.#failure !== undefined) return this.#failure;
    const { status, context } = this.#actor.getSnapshot();
    if (context.failure !== null) return context.failure;
    if (status !== "active" || context.phase === "closed") {
      return new SpoolClosed({ dir: this.#options.dir });
    }
    return undefined;
  }

  readonly #drain = (): void => this.#guard("draining the intake", this.#drainIntake);

  readonly #drainIntake = (): void => {
    this.#drainScheduled = false;
    // The time first: a clock that throws leaves the intake whole, for the fault to fail.
    const atMs = this.#options.clock();
    const groups = this.#intake;
    this.#intake = [];
    this.#intakeCount = 0;
    // One group (one sending thread) is passed on as it came; several are joined once.
    const requests = groups.length === 1 ? groups[0]! : groups.flat();
    const waiting = this.#waitingForReceipt;
    this.#waitingForReceipt = undefined;
    if (requests.length > 0) {
      // The spool may have failed or closed since these were received: fail them, never drop them.
      const refusal = this.#refusal();
      if (refusal === undefined) {
        this.#actor.send({ type: "sync.requests", requests, atMs });
      } else {
        this.#rejectWriters(requests, refusal);
      }
    }
    if (waiting !== undefined) {
      this.#intake.push(waiting.requests);
      this.#intakeCount += waiting.requests.length;
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
        this.#guard("closing", () => {
          // A failed spool's machine has stopped already: there is nothing left to close.
          if (this.#failure !== undefined) return;
          this.#actor.send({ type: "sync.close", atMs: this.#options.clock() });
        });
      });
    }
    return this.#done;
  }

  /** Counters, and where durable data ends. */
  stats(): SynchronizerStats {
    return this.#actor.getSnapshot().context.stats;
  }

  /** The writers marked slow and what each owes (issue 17, finding 10). */
  slowWriters(): SlowWriters {
    return this.#actor.getSnapshot().context.slowWriters;
  }

  /** The end of the bytes known durable. */
  durableThrough(): LogPosition {
    return this.#actor.getSnapshot().context.durableThrough;
  }

  /** The machine's current state, or `"failed"` once a fault stopped it. */
  state(): SynchronizerPhase | "failed" {
    return this.#failure === undefined ? this.#actor.getSnapshot().context.phase : "failed";
  }

  /** The synchronizer actor, for inspection (`actor.subscribe`). */
  get actor(): Actor<typeof synchronizerLogic> {
    return this.#actor;
  }

  /**
   * Carries out the machine's latest command once. Runs inside the actor's update: events sent
   * from here queue behind the current one.
   */
  #run(command: SynchronizerCommand | null, commandSeq: number): void {
    if (commandSeq === this.#commandsRun || command === null) return;
    if (commandSeq !== this.#commandsRun + 1) {
      throw new Error(`synchronizer command ${this.#commandsRun + 1} was never carried out`);
    }
    this.#commandsRun = commandSeq;
    const sendBack = (event: SynchronizerEvent): void => this.#actor.send(event);
    if (command.type === "disk.map" || command.type === "disk.write") {
      if (command.type === "disk.write") {
        this.#writing.set(command.batch.id, {
          startedAt: performance.now(),
          atMs: command.nowMs,
          reason: command.reason,
        });
      }
      this.#runDisk(command, sendBack);
    } else if (command.type === "timer.wake") {
      this.#cancelWake?.();
      this.#cancelWake = this.#timers.after(
        command.inMs,
        () => {
          this.#guard("the wake timer", () => {
            sendBack({ type: "sync.wake", commandSeq, atMs: this.#options.clock() });
          });
        },
        { kind: "wake" },
      );
    } else {
      this.#runCourier(command, sendBack);
    }
  }

  #runDisk(command: DiskCommand, sendBack: (event: SynchronizerEvent) => void): void {
    const done =
      command.type === "disk.map"
        ? this.#mapSegment(command.segment).then(() => ({ type: "disk.mapped" }) as const)
        : this.#writeBatch(command, sendBack).then(
            (outcome) => ({ type: "disk.written", batchId: command.batch.id, outcome }) as const,
          );
    done.then(sendBack, (error: unknown) => {
      // An I/O error breaks the spool as the machine says; anything else thrown is a fault.
      if (isInputOutputError(error))
        sendBack({ type: "disk.failed", error: asStorageError(error) });
      else this.fail(describeFault(`the adapter (${command.type})`, error), error);
    });
  }

  #runCourier(command: CourierCommand, sendBack: (event: SynchronizerEvent) => void): void {
    switch (command.type) {
      case "courier.confirm":
        this.#reportFlushed(command.batch, command.level);
        this.#reportBatch(command.batch, command.level);
        this.#confirmBatch(command, sendBack);
        return;
      case "courier.resend":
        // Requests already received go to the machine first, while their senders still count
        // as skipped (so they queue behind the resends); the resends, which in-process writers
        // send at once, follow before the machine hears that the resend went out.
        this.#drain();
        this.#notifySkipped(command.requests);
        this.#drain();
        sendBack({ type: "courier.resent", count: command.requests.length });
        return;
      case "courier.reject":
        this.#rejectWriters(command.requests, command.failure);
        return;
    }
  }

  async #mapSegment(segment: Region["segment"]): Promise<void> {
    await this.#options.adapter.map(segment);
  }

  /**
   * Pre-zeroes the next segment in the background once the tail passes three quarters of the
   * current one, so the roll finds it ready (claims 62-63) without the zero-fill competing
   * with flushes for the whole life of a segment.
   */
  #prepareAhead(segment: Region["segment"], endOffset: number): void {
    const { adapter, config } = this.#options;
    // Three quarters, rounded down: at 64 MiB that leaves 16 MiB of appends to pre-zero 64 MiB.
    if (endOffset < Math.floor((config.segmentByteSize * 3) / 4)) return;
    if (this.#preparedAhead >= segment + 1) return;
    this.#preparedAhead = segment + 1;
    adapter.prepareSegment(segmentNumber(segment + 1)).catch(() => undefined);
  }

  /**
   * Writes a batch and flushes it. Once the adapter took the bytes (the write call returned, so
   * its staging is free for another batch) the machine hears `disk.submitted`.
   */
  async #writeBatch(
    input: {
      batch: Batch;
      unflushedFrom: LogPosition | null;
      nowMs: number;
    },
    sendBack: (event: SynchronizerEvent) => void,
  ): Promise<WriteOutcome> {
    const { adapter } = this.#options;
    const { batch, unflushedFrom } = input;
    const segment = batch.segment!;
    const region: Region = {
      segment,
      offset: batch.startOffset,
      byteSize: byteSize(batch.endOffset - batch.startOffset),
    };
    const start = batch.startOffset;
    let covered = 0;
    for (const write of batch.writes) covered += write.byteSize;
    // Positioned writes (index entries) may leave gaps between them: those bytes are read
    // first, so the one write that covers the region rewrites them unchanged.
    const gaps =
      covered < region.byteSize ? await adapter.read(segment, start, region.byteSize) : null;
    const window = adapter.stage(region);
    if (gaps !== null) window.set(gaps);
    const encoder = new RecordEncoder(window, batch.writes.length);
    const appendedAtMs = this.#options.clock();
    for (const { offset, seq, request } of batch.writes) {
      if (request.target === undefined) {
        encoder.encode(offset - start, seq, request.writerId, appendedAtMs, request.payload);
      } else {
        window.set(request.payload, offset - start);
      }
    }
    encoder.seal();
    await adapter.write(region);
    // The flush starts first (an adapter may issue it within the call), then the machine hears
    // that the staging is free for a batch to go beside this one.
    const flushed = this.#flushWritten(batch, region, unflushedFrom);
    sendBack({ type: "disk.submitted", batchId: batch.id });
    this.#prepareAhead(segment, batch.endOffset);
    return flushed;
  }

  /** Flushes a written batch's region, and the bytes of earlier async batches with it. */
  async #flushWritten(
    batch: Batch,
    region: Region,
    unflushedFrom: LogPosition | null,
  ): Promise<WriteOutcome> {
    const { config } = this.#options;
    const segment = region.segment;
    if (batch.durability === "async" && !this.#asyncBoundReached(batch, unflushedFrom)) {
      await this.#flushInTurn(region, "async");
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
        await this.#flushInTurn(earlier, "sync");
      }
      const from = unflushedFrom.segment === segment ? unflushedFrom.offset : 0;
      flushRegion = {
        segment,
        offset: byteOffset(from),
        byteSize: byteSize(batch.endOffset - from),
      };
    }
    await this.#flushInTurn(flushRegion, "sync");
    return { level: "flushed" };
  }

  /**
   * Whether an async batch must be flushed synchronously: its adapter cannot say when an
   * asynchronous flush completes (mmap with `msync`), so nothing else bounds the bytes a power
   * cut can tear, and those since the last synchronous flush reach the bound the tear rule
   * counts on (UnflushedBound.ts).
   */
  #asyncBoundReached(batch: Batch, unflushedFrom: LogPosition | null): boolean {
    const { adapter, config } = this.#options;
    if ((adapter.whenFlushed?.() ?? null) !== null) return false;
    const from = unflushedFrom ?? { segment: batch.segment!, offset: batch.startOffset };
    const unflushed =
      (batch.segment! - from.segment) * config.segmentByteSize + batch.endOffset - from.offset;
    return unflushed >= asyncUnflushedByteSizeMax(config);
  }

  /**
   * One flush at a time, in the order the batches were written, unless the adapter declares
   * `concurrentFlushes`; with two batches on the disk their writes still overlap the other's
   * flush. Linux reports a failed writeback once per open file: of two fdatasyncs in flight on
   * one descriptor, the one that checks second may return success for pages that were lost,
   * and the batch it covers would be confirmed. In turn, a flush that returns success had
   * every failure before it reported to it or to an earlier flush, whose failure breaks the
   * spool first.
   */
  #flushInTurn(region: Region, mode: FlushMode): Promise<void> {
    const { adapter } = this.#options;
    const run = async () => adapter.flush(region, mode);
    if (adapter.concurrentFlushes === true) return run();
    // With no flush in flight it starts within this call (no turn of the microtask queue).
    const flushed = this.#flushesInFlight === 0 ? run() : this.#flushTail.then(run, run);
    this.#flushesInFlight += 1;
    this.#flushTail = flushed.then(
      () => {
        this.#flushesInFlight -= 1;
      },
      () => {
        this.#flushesInFlight -= 1;
      },
    );
    return flushed;
  }

  #reportBatch(batch: Batch, level: WriteOutcome["level"]): void {
    const writing = this.#writing.get(batch.id);
    this.#writing.delete(batch.id);
    const { onBatch } = this.#options;
    if (onBatch === undefined || writing === undefined) return;
    onBatch({
      batchId: batch.id,
      records: batch.writes.length,
      byteSize: batch.endOffset - batch.startOffset,
      reason: writing.reason,
      level,
      writtenAtMs: writing.atMs,
      writeMs: performance.now() - writing.startedAt,
    });
  }

  /**
   * Sends the write confirmation to every writer of the batch and reports their confirmations
   * of confirmation, gathered per microtask. The report waits for a microtask so the appenders'
   * continuations, queued by the confirmations, run first. Writers the machine does not wait
   * for (slow ones) owe theirs to {@link OwedConfirmations}. Writers that have not confirmed
   * by the end of the call get two timers: the deadline (adapted to the confirmations seen),
   * which marks the late ones slow, and confirmTimeoutMs, which counts them failed.
   */
  #confirmBatch(
    command: Extract<CourierCommand, { type: "courier.confirm" }>,
    sendBack: (event: SynchronizerEvent) => void,
  ): void {
    const { batch } = command;
    const groups = groupBySender(batch.writes, (write) => write.request.senderId);
    const notAwaited = new Set(command.notAwaited);
    // The batch's two timers; disarmed once every awaited confirmation is in.
    const cancels: (() => void)[] = [];
    const disarm = (): void => {
      for (const cancel of cancels.splice(0)) {
        cancel();
        this.#confirmTimers.delete(cancel);
      }
    };
    const round: ConfirmationRound = {
      batchId: batch.id,
      sentAtMs: this.#options.clock(),
      notAwaited,
      entries: new Map(),
      tally: new ConfirmationTally(groups.size - notAwaited.size, (message) => {
        if (round.tally.outstanding === 0) disarm();
        sendBack({ type: "writer.confirmed", batchId: batch.id, ...message });
      }),
      cancels,
      disarm,
    };
    this.#sendConfirmations(round, groups, command, sendBack);
    round.tally.schedule();
    if (!round.tally.allIn()) this.#armConfirmTimers(round, sendBack);
  }

  /** The write confirmations, one per writer; slow writers' confirmations are owed at once. */
  #sendConfirmations(
    round: ConfirmationRound,
    groups: Map<WriterId, readonly PlacedWrite[]>,
    command: Extract<CourierCommand, { type: "courier.confirm" }>,
    sendBack: (event: SynchronizerEvent) => void,
  ): void {
    const { batchId, sentAtMs, notAwaited, entries, tally } = round;
    const clock = this.#options.clock;
    const ceilingMs = this.#options.config.confirmTimeoutMs;
    let inCall = true;
    for (const [senderId, writes] of groups) {
      const endpoint = this.#endpoints.get(senderId);
      const slow = notAwaited.has(senderId);
      if (endpoint === undefined) {
        // Gone: counted as vanished, or, if slow, its owed confirmation lapses at once.
        if (!slow) tally.vanish();
        else
          sendBack({ type: "writer.lateConfirmed", writerId: senderId, confirmed: 0, lapsed: 1 });
        continue;
      }
      const entry: Confirmation = {
        settled: false,
        owed: slow ? this.#owed.owe(senderId, sentAtMs) : undefined,
      };
      if (!slow) entries.set(senderId, entry);
      endpoint.written({ batchId, writes, level: command.level }, () => {
        // Writers in this thread confirm during the call: only the others' latency counts.
        if (entry.owed !== undefined) {
          // A late confirmation's latency counts too (once, and not after it lapsed), or the
          // deadline, learning only from those under it, would never rise above the floor on a
          // machine where a thread routinely answers slower: capped at the ceiling, past which
          // a confirmation lapses anyway.
          if (!entry.owed.settled && !inCall) {
            this.#latencies.record(Math.min(clock() - sentAtMs, ceilingMs));
          }
          this.#owed.confirm(senderId, entry.owed);
          return;
        }
        if (entry.settled) return;
        entry.settled = true;
        if (!inCall) this.#latencies.record(clock() - sentAtMs);
        tally.confirm();
      });
    }
    inCall = false;
  }

  /**
   * The timers of a batch still waiting for confirmations: confirmTimeoutMs counts the late
   * ones failed, as before; the deadline, earlier, marks them slow and owing (issue 17,
   * finding 10). Each first reports the confirmations already gathered.
   */
  #armConfirmTimers(round: ConfirmationRound, sendBack: (event: SynchronizerEvent) => void): void {
    const { batchId, sentAtMs, entries, tally } = round;
    const late = (): WriterId[] =>
      [...entries]
        .filter(([, entry]) => !entry.settled && entry.owed === undefined)
        .map(([id]) => id);
    const arm = (ms: number, fire: () => void, purpose: TimerPurpose): void => {
      const onTime = (): void => {
        round.disarm();
        tally.report();
        if (tally.outstanding > 0) fire();
      };
      const cancel = this.#timers.after(ms, onTime, purpose);
      round.cancels.push(cancel);
      this.#confirmTimers.add(cancel);
    };
    const { confirmTimeoutMs } = this.#options.config;
    const timedOut = (): void => {
      for (const id of late()) entries.get(id)!.settled = true;
      sendBack({ type: "writer.confirmTimedOut", batchId });
    };
    arm(confirmTimeoutMs, timedOut, { kind: "confirmTimeout" });
    const deadlineMs = this.#latencies.deadlineMs(confirmTimeoutMs);
    if (deadlineMs === null) return;
    const missed = (): void => {
      // Owed only where the machine counts it: while it confirms this batch. A spool broken
      // meanwhile (the batch written beside it failed) ignores the deadline, and a writer owed
      // here and not there would settle a confirmation the machine never counted.
      const { phase, inFlight } = this.#actor.getSnapshot().context;
      if (phase !== "confirming" || inFlight?.id !== batchId) return;
      const ids = late();
      for (const id of ids) entries.get(id)!.owed = this.#owed.owe(id, sentAtMs);
      tally.forget(ids.length);
      sendBack({ type: "writer.confirmDeadline", batchId, late: ids });
    };
    arm(deadlineMs, missed, { kind: "confirmDeadline" });
  }

  /**
   * Tells the spool of writes once durable, in batch order: a synchronous batch's at once (with
   * every async write before it, which its flush covered), an `async` batch's once the adapter
   * says its flush completed (`whenFlushed`), else at the next synchronous flush. Consumers
   * must never see a record that is not durable: an index entry may only name a durable one.
   */
  #reportFlushed(batch: Batch, level: WriteOutcome["level"]): void {
    if (this.#options.onFlushed === undefined) return;
    if (level === "flushed") {
      this.#reportDurableThrough(this.#notYetDurableFrom + this.#notYetDurable.length);
      this.#options.onFlushed(batch.writes);
      return;
    }
    for (const write of batch.writes) this.#notYetDurable.push(write);
    const through = this.#notYetDurableFrom + this.#notYetDurable.length;
    // A failed flush is not reported here: the next flush settles it and fails the spool.
    this.#options.adapter.whenFlushed?.()?.then(
      () =>
        this.#guard("reporting an asynchronous flush", () => this.#reportDurableThrough(through)),
      () => undefined,
    );
  }

  /** Reports the held async writes up to the `through`-th ever held (counted from the first). */
  #reportDurableThrough(through: number): void {
    const count = through - this.#notYetDurableFrom;
    if (count <= 0 || this.#failure !== undefined) return;
    const writes = this.#notYetDurable.splice(0, count);
    this.#notYetDurableFrom += count;
    this.#options.onFlushed?.(writes);
  }

  #notifySkipped(requests: readonly WriteRequest[]): void {
    for (const [senderId, own] of groupBySender(requests, (request) => request.senderId)) {
      this.#endpoints.get(senderId)?.resend(own);
    }
  }

  #rejectWriters(requests: readonly WriteRequest[], failure: AppendError | null): void {
    const error = failure ?? this.#failure ?? new SpoolClosed({ dir: this.#options.dir });
    for (const [senderId, own] of groupBySender(requests, (request) => request.senderId)) {
      this.#endpoints.get(senderId)?.failed(own, error);
    }
  }
}

/** One batch's confirmations of confirmation, as the runtime waits for them. */
interface ConfirmationRound {
  readonly batchId: BatchId;
  /** When the write confirmations left: the deadline and the timeout count from here. */
  readonly sentAtMs: number;
  /** The batch's slow writers, not waited for: each owes its confirmation at once. */
  readonly notAwaited: ReadonlySet<WriterId>;
  /** The writers the batch waits for. */
  readonly entries: Map<WriterId, Confirmation>;
  readonly tally: ConfirmationTally;
  readonly cancels: (() => void)[];
  readonly disarm: () => void;
}

/** One writer's confirmation of confirmation for one batch. */
interface Confirmation {
  settled: boolean;
  /** Set when the writer is slow: its confirmation is owed, counted when it comes. */
  owed: OwedConfirmation | undefined;
}

/**
 * The count of a batch's awaited confirmations, reported to the machine once per microtask.
 * A batch that awaits none (its writers are all slow) is reported once with zero, so the
 * machine clears it.
 */
class ConfirmationTally {
  outstanding: number;
  #confirmed = 0;
  #vanished = 0;
  #scheduled = false;
  #reported = false;
  readonly #send: (message: { confirmed: number; vanished: number }) => void;

  constructor(awaited: number, send: (message: { confirmed: number; vanished: number }) => void) {
    this.outstanding = awaited;
    this.#send = send;
  }

  confirm(): void {
    this.#confirmed += 1;
    this.schedule();
  }

  vanish(): void {
    this.#vanished += 1;
  }

  /** Whether every awaited confirmation is in (reported or about to be). */
  allIn(): boolean {
    return this.#confirmed + this.#vanished === this.outstanding;
  }

  /** Late writers the machine is told of separately: no longer awaited here. */
  forget(count: number): void {
    this.outstanding -= count;
  }

  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.report());
  }

  report(): void {
    this.#scheduled = false;
    const confirmed = this.#confirmed;
    const vanished = this.#vanished;
    if (confirmed + vanished === 0 && (this.#reported || this.outstanding > 0)) return;
    this.#reported = true;
    this.#confirmed = 0;
    this.#vanished = 0;
    this.outstanding -= confirmed + vanished;
    this.#send({ confirmed, vanished });
  }
}

/**
 * Items by the sender they belong to, in order. When one sender owns them all (a batch from
 * one thread) the list is passed on as it is, with no copy per message.
 */
function groupBySender<T>(
  items: readonly T[],
  senderOf: (item: T) => WriterId,
): Map<WriterId, readonly T[]> {
  const first = items[0];
  if (first === undefined) return new Map();
  const only = senderOf(first);
  if (items.every((item) => senderOf(item) === only)) return new Map([[only, items]]);
  const groups = new Map<WriterId, T[]>();
  for (const item of items) {
    const own = groups.get(senderOf(item));
    if (own === undefined) groups.set(senderOf(item), [item]);
    else own.push(item);
  }
  return groups;
}

function asStorageError(error: unknown): FlushFailed | StorageFailed {
  if (error instanceof FlushFailedError || error instanceof StorageFailedError) return error;
  return new StorageFailedError({
    operation: "write",
    file: "?",
    code: errorCode(error),
    cause: error,
  });
}

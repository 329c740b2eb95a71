/**
 * The synchronizer runtime: the intake mailbox in front of the {@link synchronizerMachine}, the
 * registry of writer endpoints, and the services the machine's actors use: batches written
 * through a {@link FlushAdapter} by the {@link BatchWriter}, write confirmations delivered to
 * the writers (Confirmations.ts), durable writes reported to the spool.
 */
import {
  type AppendError,
  type Batch,
  type BatchId,
  type FlushReason,
  InvariantViolation,
  isLogAdapter,
  type PlacedWrite,
  SpoolClosed,
  SpoolFailed,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import { type Actor, createActor } from "xstate";
import { ConfirmationLatencies, OwedConfirmations } from "../internal/ConfirmDeadline.js";
import type { SlowWriters } from "../machines/SlowWriters.js";
import {
  heldRequests,
  type LogPosition,
  type WriteOutcome,
} from "../machines/SynchronizerContext.js";
import {
  type SynchronizerEvent,
  type SynchronizerPhase,
  synchronizerMachine,
} from "../machines/SynchronizerMachine.js";
import type { ConfirmJob, SynchronizerServices } from "../machines/SynchronizerServices.js";
import { describeFault, isInputOutputError } from "../spool/SpoolFailure.js";
import { BatchWriter } from "./BatchWriter.js";
import { deliverConfirmations, groupBySender } from "./Confirmations.js";
import { type BatchSink, LogWriter } from "./LogWriter.js";
import { SynchronizerCounters, type SynchronizerStats } from "./SynchronizerStats.js";
import { REAL_TIMERS, type SynchronizerTimers, wakeClock } from "./SynchronizerTimers.js";

export { REAL_TIMERS, type SynchronizerTimers, type TimerPurpose } from "./SynchronizerTimers.js";

// 65536 requests between two drains: a drain runs every microtask, so this bounds only
// writers that append in a tight synchronous loop; past it, receipts wait and the lock holds.
const INTAKE_COUNT_MAX = 65536;

import type {
  Receipt,
  SynchronizerOptions,
  SynchronizerPort,
  WriterEndpoint,
} from "./SynchronizerPorts.js";

export type {
  BatchReport,
  InspectionObserver,
  Receipt,
  SynchronizerOptions,
  SynchronizerPort,
  WriterEndpoint,
  WrittenNotice,
} from "./SynchronizerPorts.js";

/** One synchronizer per spool directory. */
export class Synchronizer implements SynchronizerPort {
  readonly #options: SynchronizerOptions;
  readonly #endpoints = new Map<WriterId, WriterEndpoint>();
  readonly #actor: Actor<typeof synchronizerMachine>;
  readonly #counters = new SynchronizerCounters();
  readonly #batches: BatchSink;
  /** Request groups received since the last drain, as their senders sent them (no copy). */
  #intake: (readonly WriteRequest[])[] = [];
  #intakeCount = 0;
  #waitingForReceipt: { requests: readonly WriteRequest[]; receipt: Receipt } | undefined;
  #drainScheduled = false;
  #closing = false;
  /** The writes in flight (two when pipelining): when each started and why its batch was closed. */
  readonly #writing = new Map<BatchId, { startedAt: number; atMs: number; reason: FlushReason }>();
  readonly #timers: SynchronizerTimers;
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
    const config = machineConfig(options);
    this.#batches = batchSink(options, config);
    const machine = options.machine ?? synchronizerMachine;
    // xstate runs the machine; the transition is wrapped only to know which event it was
    // taking if it throws (its requests are then failed with the rest).
    const noted = Object.create(machine) as typeof machine;
    noted.transition = (snapshot, event, scope) => {
      this.#eventInProgress = event;
      const next = machine.transition(snapshot, event, scope);
      this.#eventInProgress = undefined;
      return next;
    };
    this.#actor = createActor(noted, {
      input: { config, cursor: options.cursor, nowMs: options.clock(), services: this.#services() },
      clock: wakeClock(this.#timers),
      ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
    });
    this.#done = new Promise((resolve) => {
      this.#stop = (): void => {
        this.#owed.stop();
        resolve();
      };
      this.#actor.subscribe({
        next: (snapshot) => {
          if (snapshot.status === "done") this.#stop();
        },
        // xstate stops an actor whose transition threw, silently: here it fails the spool.
        error: (error) => this.fail(describeFault("the synchronizer machine", error), error),
      });
    });
    this.#actor.start();
  }

  /** What the machine's actors reach: each guarded, so a throw is a fault, not a stall. */
  #services(): SynchronizerServices {
    return {
      clock: this.#options.clock,
      counters: this.#counters,
      // An I/O error breaks the spool as the machine says; anything else thrown is a fault
      // (and the map never answers: the fault stopped the machine).
      map: (segment) =>
        this.#batches.map(segment).catch((error: unknown) => {
          if (isInputOutputError(error)) throw error;
          this.fail(describeFault("the adapter (disk.map)", error), error);
          return new Promise<never>(() => undefined);
        }),
      write: (job, submitted) => {
        this.#writing.set(job.batch.id, {
          startedAt: performance.now(),
          atMs: job.nowMs,
          reason: job.reason,
        });
        return this.#batches.write(job, () =>
          this.#guard("reporting a batch submitted", submitted),
        );
      },
      confirm: (job, report) => {
        let stop: () => void = () => undefined;
        this.#guard("delivering write confirmations", () => {
          stop = this.#confirm(job, report);
        });
        return stop;
      },
      resend: (requests) =>
        this.#guard("resending skipped requests", () => {
          // Requests already received go to the machine first, while their senders still
          // count as skipped (so they queue behind the resends); the resends, which in-process
          // writers send at once, follow before the machine hears that the resend went out.
          this.#drain();
          this.#notifySkipped(requests);
          this.#drain();
        }),
      reject: (requests, failure) =>
        this.#guard("failing held requests", () => this.#rejectWriters(requests, failure)),
      fault: (where, error) => {
        this.fail(describeFault(where, error), error);
      },
    };
  }

  /** Reports the batch durable and sends its write confirmations (claims 1, 34). */
  #confirm(job: ConfirmJob, report: Parameters<SynchronizerServices["confirm"]>[1]): () => void {
    this.#reportFlushed(job.batch, job.level);
    this.#reportBatch(job.batch, job.level);
    const context = {
      endpoints: this.#endpoints,
      config: this.#options.config,
      clock: this.#options.clock,
      timers: this.#timers,
      latencies: this.#latencies,
      owed: this.#owed,
    };
    return deliverConfirmations(context, job, (event) =>
      this.#guard("reporting confirmations", () => report(event)),
    );
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
    if (this.#endpoints.has(endpoint.id)) {
      throw new InvariantViolation({ message: `writer ${endpoint.id} registered twice` });
    }
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
      throw new InvariantViolation({ message: "a second send while the lock is held" });
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
   * Claim 34 through shared memory: a group a writer thread put in its request ring while it
   * held the shared lock, receipted there (the ring is that writer's part of the intake,
   * bounded by its bytes, so no receipt waits here). Queued for the next drain as a sent group
   * is; returns an error instead when the spool takes no more writes.
   */
  deliver(requests: readonly WriteRequest[]): AppendError | undefined {
    const refusal = this.#refusal();
    if (refusal !== undefined) return refusal;
    this.#intake.push(requests);
    this.#intakeCount += requests.length;
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
    if (status !== "active") return new SpoolClosed({ dir: this.#options.dir });
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

  /** Counters. */
  stats(): SynchronizerStats {
    return this.#counters.read();
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
    if (this.#failure !== undefined) return "failed";
    return this.#actor.getSnapshot().value as SynchronizerPhase;
  }

  /** The synchronizer actor, for inspection (`actor.subscribe`). */
  get actor(): Actor<typeof synchronizerMachine> {
    return this.#actor;
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
    // (A log confirms every batch replicated: it holds no async writes.)
    const { adapter } = this.#options;
    if (isLogAdapter(adapter)) return;
    adapter.whenFlushed?.()?.then(
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

/**
 * The config the machine runs with: an adapter that cannot take a second batch while one
 * flushes keeps one on the disk, whatever `pipelineSplitByteSize` says.
 */
function machineConfig(options: SynchronizerOptions): SynchronizerOptions["config"] {
  const { adapter, config } = options;
  const onePerFlush = !isLogAdapter(adapter) && adapter.pipelining === false;
  return onePerFlush ? { ...config, pipelineSplitByteSize: null } : config;
}

/** The store's way in: a {@link BatchWriter} for a flush adapter, a {@link LogWriter} for a log. */
function batchSink(options: SynchronizerOptions, config: SynchronizerOptions["config"]): BatchSink {
  const { adapter } = options;
  if (isLogAdapter(adapter)) return new LogWriter(adapter);
  return new BatchWriter({
    adapter,
    config,
    clock: options.clock,
    ...(options.gapBytes === undefined ? {} : { gapBytes: options.gapBytes }),
  });
}

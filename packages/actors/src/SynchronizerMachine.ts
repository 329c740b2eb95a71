/**
 * The synchronizer: claim 64's flowchart as an explicit state machine, run by an xstate
 * `fromTransition` actor.
 *
 * receive → decide add / park / skip → add → decide flush → mapped? → map → write → send write
 * confirmations → count confirmations of confirmation → clear → skipped or stored? → take parked
 * requests → loop back.
 *
 * The flowchart is data: {@link SYNCHRONIZER_STATES} lists every state, the events each one
 * takes and the states each transition may lead to, and {@link SYNCHRONIZER_CHOICES} lists the
 * flowchart's diamonds (`decidingFlush`: write the batch? is it mapped?; `checkingSkipped`:
 * skipped or stored?; `takingParked`) with their possible outcomes. The transition function
 * runs a transition, follows the choices it leads to, and checks every step against the
 * declared targets, so the table cannot drift from what the code does; diagrams and
 * model-based tests read the same table. Boxes where the machine waits are states
 * (`receiving`, `mapping`, `writing`, `confirming`, `notifyingSkipped`, ...); action boxes are
 * named transition functions (`admitRequests`, `startFlush`, `countLastConfirmationsAndClear`,
 * `takeParked`).
 *
 * Why not an xstate statechart: measured here, each statechart microstep costs 15-20 µs (a new
 * snapshot per step and per assign), so the five microsteps of a batch cost more than the
 * whole JavaScript work of a small batch and doubled the ack latency of a single writer; and
 * actions run through xstate's action executor (`sendTo`, `emit`) made V8 tenure per-message
 * objects and keep whole batches alive through young-generation collections. This transition
 * costs about a microsecond.
 *
 * Pipelining (`pipelineSplitByteSize`): at most two batches on the disk. While the in-flight
 * batch flushes, arrivals gather into the next one, which goes to the disk beside it once the
 * first batch's bytes were handed over (`disk.submitted`; `decidingAhead` → `writingAhead`).
 * Write confirmations stay in batch order: the batch written ahead is confirmed only after the
 * one before it cleared (`promotingAhead`), whichever flush finished first. A big batch
 * gathered while the disk is idle is split in two, so its first half's writers come back while
 * the second half flushes.
 *
 * Slow writers (issue 17, finding 10): a writer that misses its batch's confirmation deadline
 * is marked slow (`writer.confirmDeadline`) and the batch clears with its confirmation owed, in
 * `slowWriters`; batches do not wait for a slow writer, whose confirmations are counted as they
 * come (`writer.lateConfirmed`, taken in every state: `SYNCHRONIZER_EVERYWHERE`), until it
 * owes none. See `SlowWriters.ts`.
 *
 * Event granularity: one `sync.requests` event carries every request drained from the intake
 * in one microtask, and one `writer.confirmed` event carries every confirmation gathered in one
 * microtask, so the machine takes a handful of events per batch, not per message.
 *
 * Side effects: a transition into a state that waits on the outside world puts the command for
 * it into the state (`command`, numbered by `commandSeq`), and the runtime, which observes every
 * snapshot, carries out each command exactly once and answers with an event: `disk.*` commands
 * go to the adapter, `courier.*` commands to the writers, `timer.wake` to the clock. The
 * transition function itself is pure.
 */
import {
  type AdmissionState,
  type AppendCursor,
  admit,
  admitParked,
  type Batch,
  type BatchId,
  changeAdmission,
  decideFlush,
  emptyBatch,
  emptyStorage,
  type FlushDecision,
  type FlushFailed,
  type FlushReason,
  parkAll,
  type SegmentNumber,
  type SpoolConfig,
  type StorageFailed,
  splitBatch,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import type { ActorSystem } from "xstate";
import { transitionLogic } from "./internal/TransitionLogic.js";
import { isSlow, oweConfirmations, type SlowWriters, settleConfirmations } from "./SlowWriters.js";

/** States where the machine rests between events. @example "confirming" */
export type SynchronizerPhase =
  | "receiving"
  | "waitingForTrigger"
  | "waitingForRequest"
  | "mapping"
  | "writing"
  | "writingAhead"
  | "confirming"
  | "notifyingSkipped"
  | "broken"
  | "closed";

/** The flowchart's diamonds: decisions taken between two states, never rested in. @example "decidingFlush" */
export type SynchronizerChoice =
  | "decidingFlush"
  | "decidingAhead"
  | "promotingAhead"
  | "checkingSkipped"
  | "takingParked";

/** A node of the flowchart: a state or a choice. @example "writing" */
export type SynchronizerNode = SynchronizerPhase | SynchronizerChoice;

/** Where bytes have been made durable up to, or written but not yet flushed from. @example { segment, offset } */
export interface LogPosition {
  readonly segment: SegmentNumber;
  readonly offset: number;
}

/** What the write step reached. @example { level: "flushed" } */
export interface WriteOutcome {
  readonly level: "flushed" | "async";
}

/** Counters kept per spool. @example snapshot.context.stats.flushes */
export interface SynchronizerStats {
  readonly flushes: number;
  readonly flushReasons: Readonly<Record<FlushReason, number>>;
  readonly recordsWritten: number;
  readonly bytesWritten: number;
  readonly batchRecordsMax: number;
  readonly parked: number;
  readonly skipped: number;
  readonly confirmationsReceived: number;
  readonly confirmationsFailed: number;
  /** Confirmations of confirmation counted after their batch cleared (from slow writers). */
  readonly confirmationsLate: number;
  /** Times a writer was marked slow: it missed its batch's confirmation deadline. */
  readonly writersMarkedSlow: number;
  /** Batches written beside another still flushing (pipelining). */
  readonly writtenAhead: number;
  /** Batches gathered while the disk was idle and written as two (pipelining). */
  readonly splits: number;
}

/** The synchronizer's state: its phase and the data it works on, bounded by the batch and temporary storage limits. */
export interface SynchronizerContext {
  /** Where the machine rests between events. */
  readonly phase: SynchronizerPhase;
  readonly config: SpoolConfig;
  readonly admission: AdmissionState;
  /** The batch being mapped, written or confirmed; the admission batch gathers the next one. */
  readonly inFlight: Batch | null;
  readonly flushReason: FlushReason | null;
  /** Whether the in-flight batch's bytes were handed to the adapter (its write call returned). */
  readonly inFlightSubmitted: boolean;
  /**
   * Pipelining: a second batch written while the in-flight one flushes, confirmed after it.
   * Its flush outcome waits here when it finishes first.
   */
  readonly ahead: Batch | null;
  readonly aheadReason: FlushReason | null;
  readonly aheadSubmitted: boolean;
  readonly aheadWritten: WriteOutcome | null;
  /** The flush policy's verdict on the batch as it stands, decided once per change. */
  readonly decision: FlushDecision;
  readonly nowMs: number;
  readonly wakeInMs: number | null;
  readonly lastFlushAtMs: number;
  readonly mapped: readonly SegmentNumber[];
  /** Start of bytes written by `async` batches and not yet covered by a synchronous flush. */
  readonly unflushedFrom: LogPosition | null;
  /** End of the bytes known durable. */
  readonly durableThrough: LogPosition;
  readonly confirmationsPending: number;
  /**
   * Writers marked slow and the confirmations of confirmation each still owes for batches
   * already cleared; batches do not wait for them (issue 17, finding 10).
   */
  readonly slowWriters: SlowWriters;
  readonly closing: boolean;
  readonly failure: FlushFailed | StorageFailed | null;
  readonly stats: SynchronizerStats;
  /** The latest command for the runtime, and its number: each number is carried out once. */
  readonly command: SynchronizerCommand | null;
  readonly commandSeq: number;
}

/** Input to start a synchronizer: config, where the log ends, and the time. */
export interface SynchronizerInput {
  readonly config: SpoolConfig;
  readonly cursor: AppendCursor;
  readonly nowMs: number;
}

/** Commands for the disk: map a segment, write and flush a batch. */
export type DiskCommand =
  | { readonly type: "disk.map"; readonly segment: SegmentNumber }
  | {
      readonly type: "disk.write";
      readonly batch: Batch;
      /** The flush condition that closed the batch (claims 5-13). */
      readonly reason: FlushReason;
      readonly unflushedFrom: LogPosition | null;
      readonly nowMs: number;
    };

/** A command for the clock: send `sync.wake` with this command's number after `inMs`. @example { type: "timer.wake", inMs: 10 } */
export interface TimerCommand {
  readonly type: "timer.wake";
  readonly inMs: number;
}

/** Commands for the way to the writers. */
export type CourierCommand =
  | {
      readonly type: "courier.confirm";
      readonly batch: Batch;
      readonly level: WriteOutcome["level"];
      /** The batch's writers marked slow: their confirmations are not waited for. */
      readonly notAwaited: readonly WriterId[];
    }
  | { readonly type: "courier.resend"; readonly requests: readonly WriteRequest[] }
  | {
      readonly type: "courier.reject";
      readonly requests: readonly WriteRequest[];
      readonly failure: FlushFailed | StorageFailed | null;
    };

/** A command the runtime carries out for the machine. @example snapshot.context.command */
export type SynchronizerCommand = DiskCommand | CourierCommand | TimerCommand;

/** Events the synchronizer takes. @example actor.send({ type: "sync.requests", requests, atMs }) */
export type SynchronizerEvent =
  | {
      readonly type: "sync.requests";
      readonly requests: readonly WriteRequest[];
      readonly atMs: number;
    }
  | { readonly type: "sync.close"; readonly atMs: number }
  | { readonly type: "sync.wake"; readonly commandSeq: number; readonly atMs: number }
  | { readonly type: "disk.mapped" }
  | { readonly type: "disk.submitted"; readonly batchId: BatchId }
  | {
      readonly type: "disk.written";
      readonly outcome: WriteOutcome;
      /** The batch written; the in-flight one when omitted. */
      readonly batchId?: BatchId;
    }
  | { readonly type: "disk.failed"; readonly error: FlushFailed | StorageFailed }
  | {
      readonly type: "writer.confirmed";
      readonly batchId: BatchId;
      readonly confirmed: number;
      readonly vanished: number;
    }
  | { readonly type: "writer.confirmTimedOut"; readonly batchId: BatchId }
  | {
      /** The batch's confirmation deadline passed: `late` writers still owe theirs. */
      readonly type: "writer.confirmDeadline";
      readonly batchId: BatchId;
      readonly late: readonly WriterId[];
    }
  | {
      /** A slow writer's owed confirmation came (`confirmed`) or lapsed at confirmTimeoutMs. */
      readonly type: "writer.lateConfirmed";
      readonly writerId: WriterId;
      readonly confirmed: number;
      readonly lapsed: number;
    }
  | { readonly type: "courier.resent"; readonly count: number };

const NO_FLUSH: FlushDecision = { flush: false, wakeInMs: null };

const ZERO_REASONS: Record<FlushReason, number> = {
  close: 0,
  pageOffset: 0,
  byteOffset: 0,
  maxBytes: 0,
  maxCount: 0,
  contiguousRun: 0,
  maxGatherTime: 0,
  sinceLastFlush: 0,
  maxIdleTime: 0,
};

function decide(
  context: SynchronizerContext,
  admission: AdmissionState,
  nowMs: number,
  closing: boolean,
): FlushDecision {
  const input = {
    batch: admission.batch,
    refusal: admission.refusal,
    lastFlushAtMs: context.lastFlushAtMs,
    closing,
  };
  return decideFlush(input, nowMs, context.config);
}

/** Whether this confirmation event brings the in-flight batch's pending count to zero. */
function isLastConfirmation(context: SynchronizerContext, event: WriterConfirmed): boolean {
  return (
    event.batchId === context.inFlight?.id &&
    context.confirmationsPending - event.confirmed - event.vanished <= 0
  );
}

// Copies written out field by field, then the changes stored over them. On Node 20's V8,
// `{ ...context, field }` on this 18-field object measured about 1 µs; reading every field of
// `changes` (a different shape at every call site) about 0.4 µs; this about 0.1 µs. The machine
// makes a dozen such copies per batch: at one writer the spreads were a fifth of Spool's
// JavaScript per append.

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The context with `changes` applied. */
function change(
  context: SynchronizerContext,
  changes: Partial<SynchronizerContext>,
): SynchronizerContext {
  const c = context;
  // Typed in full, so a field added to the context and not copied here fails to compile.
  const next: Mutable<SynchronizerContext> = {
    phase: c.phase,
    config: c.config,
    admission: c.admission,
    inFlight: c.inFlight,
    flushReason: c.flushReason,
    inFlightSubmitted: c.inFlightSubmitted,
    ahead: c.ahead,
    aheadReason: c.aheadReason,
    aheadSubmitted: c.aheadSubmitted,
    aheadWritten: c.aheadWritten,
    decision: c.decision,
    nowMs: c.nowMs,
    wakeInMs: c.wakeInMs,
    lastFlushAtMs: c.lastFlushAtMs,
    mapped: c.mapped,
    unflushedFrom: c.unflushedFrom,
    durableThrough: c.durableThrough,
    confirmationsPending: c.confirmationsPending,
    slowWriters: c.slowWriters,
    closing: c.closing,
    failure: c.failure,
    stats: c.stats,
    command: c.command,
    commandSeq: c.commandSeq,
  };
  const target = next as Record<string, unknown>;
  for (const key in changes) target[key] = changes[key as keyof SynchronizerContext];
  return next;
}

/** The counters with `changes` applied. */
function changeStats(
  stats: SynchronizerStats,
  changes: Partial<SynchronizerStats>,
): SynchronizerStats {
  const s = stats;
  const next: Mutable<SynchronizerStats> = {
    flushes: s.flushes,
    flushReasons: s.flushReasons,
    recordsWritten: s.recordsWritten,
    bytesWritten: s.bytesWritten,
    batchRecordsMax: s.batchRecordsMax,
    parked: s.parked,
    skipped: s.skipped,
    confirmationsReceived: s.confirmationsReceived,
    confirmationsFailed: s.confirmationsFailed,
    confirmationsLate: s.confirmationsLate,
    writersMarkedSlow: s.writersMarkedSlow,
    writtenAhead: s.writtenAhead,
    splits: s.splits,
  };
  const target = next as Record<string, unknown>;
  for (const key in changes) target[key] = changes[key as keyof SynchronizerStats];
  return next;
}

/** One more flush for `reason`. */
function countReason(
  reasons: Readonly<Record<FlushReason, number>>,
  reason: FlushReason,
): Readonly<Record<FlushReason, number>> {
  const r = reasons;
  // Written out: a spread of this record cost as much as the rest of counting a flush.
  const counted: Record<FlushReason, number> = {
    close: r.close,
    pageOffset: r.pageOffset,
    byteOffset: r.byteOffset,
    maxBytes: r.maxBytes,
    maxCount: r.maxCount,
    contiguousRun: r.contiguousRun,
    maxGatherTime: r.maxGatherTime,
    sinceLastFlush: r.sinceLastFlush,
    maxIdleTime: r.maxIdleTime,
  };
  counted[reason] += 1;
  return counted;
}

/** Adds what one admission step parked and skipped to the counters (skips only grow there). */
function countParkedAndSkipped(
  stats: SynchronizerStats,
  before: AdmissionState,
  after: AdmissionState,
): SynchronizerStats {
  const skipped = after.skipped.length - before.skipped.length;
  const parked = Math.max(0, after.storage.requests.length - before.storage.requests.length);
  if (skipped === 0 && parked === 0) return stats;
  return changeStats(stats, { parked: stats.parked + parked, skipped: stats.skipped + skipped });
}

/** The batch's senders, each once, in the order they first appear. */
function batchWriters(batch: Batch): readonly WriterId[] {
  // Usually one sender (every in-process writer handle shares one): a Set only when not.
  const first = batch.writes[0]?.request.senderId;
  if (first === undefined) return [];
  let at = 1;
  while (at < batch.writes.length && batch.writes[at]!.request.senderId === first) at += 1;
  if (at === batch.writes.length) return [first];
  const writers = new Set<WriterId>();
  for (const write of batch.writes) writers.add(write.request.senderId);
  return [...writers];
}

/**
 * The batch's writers split by whether the batch waits for their confirmations: the slow
 * ones (in the order they first appear) are not waited for.
 */
function awaitedWriters(
  batch: Batch,
  slowWriters: SlowWriters,
): { readonly awaited: number; readonly notAwaited: readonly WriterId[] } {
  const writers = batchWriters(batch);
  if (slowWriters.length === 0) return { awaited: writers.length, notAwaited: [] };
  const notAwaited = writers.filter((writer) => isSlow(slowWriters, writer));
  return { awaited: writers.length - notAwaited.length, notAwaited };
}

function regionEnd(batch: Batch): LogPosition {
  return { segment: batch.segment!, offset: batch.endOffset };
}

type EventOf<T extends SynchronizerEvent["type"]> = Extract<SynchronizerEvent, { type: T }>;
type WriterConfirmed = EventOf<"writer.confirmed">;

/** What a transition or a choice produced: the updated state and the node it leads to. */
type Step = readonly [SynchronizerContext, SynchronizerNode];

/** One transition: the nodes it may lead to and the function that takes it. @example SYNCHRONIZER_STATES.writing["disk.written"]?.targets // ["confirming"] */
export interface SynchronizerTransition<E extends SynchronizerEvent> {
  readonly targets: readonly SynchronizerNode[];
  readonly run: (context: SynchronizerContext, event: E) => Step;
}

/** One choice: the nodes it may lead to and the function that decides. @example SYNCHRONIZER_CHOICES.takingParked.targets // ["decidingFlush"] */
export interface SynchronizerChoiceNode {
  readonly targets: readonly SynchronizerNode[];
  readonly choose: (context: SynchronizerContext) => Step;
}

type StateTable = {
  readonly [T in SynchronizerEvent["type"]]?: SynchronizerTransition<EventOf<T>>;
};

// ---------------------------------------------------------------------------------------------
// Action boxes: pure updates of the state.

function admitRequests(context: SynchronizerContext, event: EventOf<"sync.requests">) {
  const nowMs = Math.max(context.nowMs, event.atMs);
  const admission = admit(context.admission, event.requests, event.atMs, context.config);
  return change(context, {
    nowMs,
    admission,
    decision: decide(context, admission, nowMs, context.closing),
    stats: countParkedAndSkipped(context.stats, context.admission, admission),
  });
}

function parkRequests(context: SynchronizerContext, event: EventOf<"sync.requests">) {
  const admission = parkAll(context.admission, event.requests, context.config);
  return change(context, {
    nowMs: Math.max(context.nowMs, event.atMs),
    admission,
    stats: countParkedAndSkipped(context.stats, context.admission, admission),
  });
}

function markClosing(context: SynchronizerContext, event: EventOf<"sync.close">) {
  const nowMs = Math.max(context.nowMs, event.atMs);
  return change(context, {
    closing: true,
    nowMs,
    decision: decide(context, context.admission, nowMs, true),
  });
}

// A timer fires at or after its time: advancing the clock by at least the delay is a lower
// bound on the real time, so a timed trigger can never fire early.
function advanceClock(context: SynchronizerContext, event: EventOf<"sync.wake">) {
  const nowMs = Math.max(context.nowMs + (context.wakeInMs ?? 0), event.atMs);
  return change(context, {
    nowMs,
    decision: decide(context, context.admission, nowMs, context.closing),
  });
}

/** The admission state once its batch left it: a new empty batch, no refusal, no verdict. */
function afterTaking(context: SynchronizerContext, batch: Batch) {
  return {
    admission: changeAdmission(context.admission, {
      batch: emptyBatch((batch.id + 1) as BatchId),
      refusal: null,
    }),
    decision: NO_FLUSH,
  };
}

function startFlush(context: SynchronizerContext): SynchronizerContext {
  const { decision } = context;
  if (!decision.flush) throw new Error("startFlush without a flush decision");
  const batch = context.admission.batch;
  const halves = splitForPipelining(context, batch);
  if (halves !== null) {
    // Pipelining: the first half goes now; the second, whose flush is decided already, waits
    // only for the first half's bytes to be handed over (decidingAhead).
    const [first, second] = halves;
    return change(context, {
      inFlight: first,
      flushReason: decision.reason,
      inFlightSubmitted: false,
      admission: changeAdmission(context.admission, { batch: second }),
      stats: changeStats(context.stats, { splits: context.stats.splits + 1 }),
    });
  }
  return change(context, {
    inFlight: batch,
    flushReason: decision.reason,
    inFlightSubmitted: false,
    ...afterTaking(context, batch),
  });
}

/**
 * Whether pipelining may put `batch` on the disk beside another: both synchronous (an async
 * batch's flush is covered by a later one, in order), no earlier async bytes left to cover.
 */
function pipelines(context: SynchronizerContext, batch: Batch): boolean {
  return (
    context.config.pipelineSplitByteSize !== null &&
    batch.durability === "flushed" &&
    context.unflushedFrom === null
  );
}

/**
 * Whether `batch` is worth a flush of its own beside another: at least half of
 * `pipelineSplitByteSize`, as each half of a split is. Smaller ones wait for the in-flight
 * batch to clear and grow meanwhile, so a trickle of arrivals does not become a flush per
 * arrival beside every batch.
 */
function worthAFlushBeside(context: SynchronizerContext, batch: Batch): boolean {
  const { pipelineSplitByteSize } = context.config;
  return (
    pipelineSplitByteSize !== null &&
    batch.byteSize * 2 >= pipelineSplitByteSize &&
    pipelines(context, batch)
  );
}

/**
 * The two halves a batch gathered while the disk is idle is written as (pipelining), or null:
 * it must reach `pipelineSplitByteSize`, and its second half (records are whole, so halves by
 * bytes are not always even) must be worth a flush of its own.
 */
function splitForPipelining(
  context: SynchronizerContext,
  batch: Batch,
): readonly [Batch, Batch] | null {
  const { pipelineSplitByteSize } = context.config;
  if (pipelineSplitByteSize === null || batch.byteSize < pipelineSplitByteSize) return null;
  if (batch.writes.length < 2 || !pipelines(context, batch)) return null;
  const halves = splitBatch(batch, (batch.id + 1) as BatchId);
  return worthAFlushBeside(context, halves[1]) ? halves : null;
}

/** Whether the admission batch may be written now, beside the in-flight one. */
function mayWriteAhead(context: SynchronizerContext): boolean {
  const { admission, decision, inFlight } = context;
  const batch = admission.batch;
  return (
    decision.flush &&
    context.ahead === null &&
    context.inFlightSubmitted &&
    inFlight !== null &&
    pipelines(context, inFlight) &&
    worthAFlushBeside(context, batch) &&
    batch.segment !== null &&
    context.mapped.includes(batch.segment)
  );
}

/** Pipelining: the admission batch goes to the disk while the in-flight batch flushes. */
function startAhead(context: SynchronizerContext): SynchronizerContext {
  const { decision } = context;
  if (!decision.flush) throw new Error("startAhead without a flush decision");
  const batch = context.admission.batch;
  const started = change(context, {
    ahead: batch,
    aheadReason: decision.reason,
    aheadSubmitted: false,
    aheadWritten: null,
    ...afterTaking(context, batch),
    stats: changeStats(context.stats, { writtenAhead: context.stats.writtenAhead + 1 }),
  });
  return issueCommand(started, {
    type: "disk.write",
    batch,
    reason: decision.reason,
    unflushedFrom: null,
    nowMs: context.nowMs,
  });
}

/** The flush of the in-flight batch finished: count it and send its write confirmations. */
function confirmInFlight(context: SynchronizerContext, outcome: WriteOutcome): SynchronizerContext {
  const written = recordWritten(context, outcome);
  // Slow writers are not waited for: each owes this batch's confirmation from now on.
  const { awaited, notAwaited } = awaitedWriters(written.inFlight!, written.slowWriters);
  const { book } = oweConfirmations(written.slowWriters, notAwaited);
  const counted = change(written, { confirmationsPending: awaited, slowWriters: book });
  return issueCommand(counted, {
    type: "courier.confirm",
    batch: counted.inFlight!,
    level: counted.unflushedFrom === null ? "flushed" : "async",
    notAwaited,
  });
}

/** Marks a batch's bytes handed over. */
function markSubmitted(context: SynchronizerContext, event: EventOf<"disk.submitted">) {
  if (event.batchId === context.inFlight?.id) return change(context, { inFlightSubmitted: true });
  if (event.batchId === context.ahead?.id) return change(context, { aheadSubmitted: true });
  return context;
}

/** Whether a written event is the ahead batch's (it finished before the in-flight one). */
function isAheadWritten(context: SynchronizerContext, event: EventOf<"disk.written">): boolean {
  return event.batchId !== undefined && event.batchId === context.ahead?.id;
}

function recordWritten(context: SynchronizerContext, outcome: WriteOutcome): SynchronizerContext {
  const batch = context.inFlight!;
  const reason = context.flushReason!;
  const { stats } = context;
  const flushed = outcome.level === "flushed";
  return change(context, {
    lastFlushAtMs: context.nowMs,
    durableThrough: flushed ? regionEnd(batch) : context.durableThrough,
    unflushedFrom: flushed
      ? null
      : (context.unflushedFrom ?? { segment: batch.segment!, offset: batch.startOffset }),
    confirmationsPending: batchWriters(batch).length,
    stats: changeStats(stats, {
      flushes: stats.flushes + 1,
      flushReasons: countReason(stats.flushReasons, reason),
      recordsWritten: stats.recordsWritten + batch.writes.length,
      bytesWritten: stats.bytesWritten + batch.byteSize,
      batchRecordsMax: Math.max(stats.batchRecordsMax, batch.writes.length),
    }),
  });
}

function countConfirmations(
  context: SynchronizerContext,
  confirmed: number,
  vanished: number,
): SynchronizerContext {
  return change(context, {
    confirmationsPending: context.confirmationsPending - confirmed - vanished,
    stats: changeStats(context.stats, {
      confirmationsReceived: context.stats.confirmationsReceived + confirmed,
      confirmationsFailed: context.stats.confirmationsFailed + vanished,
    }),
  });
}

/**
 * The in-flight batch's deadline passed: its `late` writers are marked slow, each owing this
 * batch's confirmation, and no longer count as pending.
 */
function markLate(context: SynchronizerContext, late: readonly WriterId[]): SynchronizerContext {
  if (late.length > context.confirmationsPending) {
    throw new Error("synchronizer: more writers late than confirmations pending");
  }
  const { book, marked } = oweConfirmations(context.slowWriters, late);
  const { stats } = context;
  return change(context, {
    confirmationsPending: context.confirmationsPending - late.length,
    slowWriters: book,
    stats: changeStats(stats, { writersMarkedSlow: stats.writersMarkedSlow + marked }),
  });
}

/** A slow writer's owed confirmations came or lapsed: counted, and settled in the book. */
function countLate(
  context: SynchronizerContext,
  event: EventOf<"writer.lateConfirmed">,
): SynchronizerContext {
  const { stats } = context;
  const { writerId, confirmed, lapsed } = event;
  return change(context, {
    slowWriters: settleConfirmations(context.slowWriters, writerId, confirmed + lapsed),
    stats: changeStats(stats, {
      confirmationsReceived: stats.confirmationsReceived + confirmed,
      confirmationsLate: stats.confirmationsLate + confirmed,
      confirmationsFailed: stats.confirmationsFailed + lapsed,
    }),
  });
}

/** Claim 1: clear the batch once every writer confirmed (or was counted as failed). */
function clearInFlight(context: SynchronizerContext): SynchronizerContext {
  return change(context, {
    inFlight: null,
    flushReason: null,
    inFlightSubmitted: false,
    confirmationsPending: 0,
  });
}

/** The state update that issues `command` to the runtime. */
function issueCommand(
  context: SynchronizerContext,
  command: SynchronizerCommand,
): SynchronizerContext {
  return change(context, { command, commandSeq: context.commandSeq + 1 });
}

function writeInFlight(context: SynchronizerContext): SynchronizerContext {
  return issueCommand(context, {
    type: "disk.write",
    batch: context.inFlight!,
    reason: context.flushReason!,
    unflushedFrom: context.unflushedFrom,
    nowMs: context.nowMs,
  });
}

/**
 * Every request the machine holds and has not confirmed: in the batches on the disk, the batch
 * gathering, temporary storage, skipped and being resent. With `confirming: true` the batch
 * being confirmed counts too (a runtime that failed while confirming it may not have reached
 * every writer; writers already confirmed ignore the failure).
 *
 * @example
 * const held = heldRequests(actor.getSnapshot().context, { confirming: true });
 */
export function heldRequests(
  context: SynchronizerContext,
  options: { readonly confirming: boolean },
): WriteRequest[] {
  // A batch being confirmed was written and flushed: its writers have their confirmations.
  const unconfirmed =
    context.phase === "confirming" && !options.confirming ? null : context.inFlight;
  return [
    ...(unconfirmed?.writes.map((write) => write.request) ?? []),
    ...(context.ahead?.writes.map((write) => write.request) ?? []),
    ...context.admission.batch.writes.map((write) => write.request),
    ...context.admission.storage.requests,
    ...context.admission.skipped,
    ...context.admission.resending,
  ];
}

function rejectAll(context: SynchronizerContext): SynchronizerContext {
  const requests = heldRequests(context, { confirming: false });
  return issueCommand(context, { type: "courier.reject", requests, failure: context.failure });
}

// A write, flush or map failed: every request the machine holds gets the error, and the spool
// takes no more writes (the runtime refuses them at receipt from now on).
function fail(context: SynchronizerContext, event: EventOf<"disk.failed">): Step {
  return [
    rejectAll(change(context, { failure: event.error })),
    context.closing ? "closed" : "broken",
  ];
}

// ---------------------------------------------------------------------------------------------
// The flowchart.

const gather: StateTable = {
  "sync.requests": {
    targets: ["decidingFlush"],
    run: (context, event) => [admitRequests(context, event), "decidingFlush"],
  },
};

// While a batch is out (mapping, two on the disk, confirming), arrivals are parked (claims 16,
// 64-66) and a close is remembered for when the batch clears; `writing` parks or gathers.
function busy(phase: "mapping" | "writingAhead" | "confirming"): StateTable {
  return {
    "sync.requests": {
      targets: [phase],
      run: (context, event) => [parkRequests(context, event), phase],
    },
    "sync.close": {
      targets: [phase],
      run: (context, event) => [markClosing(context, event), phase],
    },
  };
}

const failed = {
  "disk.failed": { targets: ["broken", "closed"], run: fail },
} as const satisfies StateTable;

/**
 * Every state, the events it takes, and where each may lead. An event a state does not list
 * is ignored there (as a statechart ignores it), unless every state takes it
 * ({@link SYNCHRONIZER_EVERYWHERE}).
 *
 * @example
 * Object.keys(SYNCHRONIZER_STATES.confirming) // ["sync.requests", "sync.close", "writer.confirmed", ...]
 */
export const SYNCHRONIZER_STATES: { readonly [P in SynchronizerPhase]: StateTable } = {
  // Claim 64: receive a write request (the batch is empty, nothing is parked).
  receiving: {
    ...gather,
    "sync.close": {
      targets: ["closed"],
      run: (context, event) => [markClosing(context, event), "closed"],
    },
  },
  // Claim 67: not flushing yet; loop back to receive, with a timer for the next timed trigger.
  waitingForTrigger: {
    ...gather,
    "sync.close": {
      targets: ["decidingFlush"],
      run: (context, event) => [markClosing(context, event), "decidingFlush"],
    },
    "sync.wake": {
      targets: ["decidingFlush", "waitingForTrigger"],
      // A wake armed before the latest command is stale: the state it was for has passed.
      run: (context, event) =>
        event.commandSeq === context.commandSeq
          ? [advanceClock(context, event), "decidingFlush"]
          : [context, "waitingForTrigger"],
    },
  },
  // Claim 67 with no timed trigger armed: only a request (or close) moves on.
  waitingForRequest: {
    ...gather,
    "sync.close": {
      targets: ["decidingFlush"],
      run: (context, event) => [markClosing(context, event), "decidingFlush"],
    },
  },
  // Claims 15, 68: map the region if it is not mapped yet.
  mapping: {
    ...busy("mapping"),
    ...failed,
    "disk.mapped": {
      targets: ["writing"],
      run: (context) => {
        const mapped = [...context.mapped, context.inFlight!.segment!];
        return [writeInFlight(change(context, { mapped })), "writing"];
      },
    },
  },
  // Claims 1, 14, 45: write the batch through the map and flush it. Pipelining: while it
  // flushes, arrivals gather into the next batch, which may go to the disk beside it once its
  // bytes are handed over (decidingAhead); without pipelining they are parked.
  writing: {
    ...failed,
    "sync.requests": {
      targets: ["writing", "decidingAhead"],
      run: (context, event) =>
        pipelines(context, context.inFlight!)
          ? [admitRequests(context, event), "decidingAhead"]
          : [parkRequests(context, event), "writing"],
    },
    "sync.close": {
      targets: ["decidingAhead"],
      run: (context, event) => [markClosing(context, event), "decidingAhead"],
    },
    "disk.submitted": {
      targets: ["decidingAhead"],
      run: (context, event) => [markSubmitted(context, event), "decidingAhead"],
    },
    "disk.written": {
      targets: ["confirming"],
      run: (context, event) => [confirmInFlight(context, event.outcome), "confirming"],
    },
  },
  // Pipelining: two batches on the disk; the in-flight one is confirmed first, whichever
  // flush finishes first. Arrivals are parked.
  writingAhead: {
    ...busy("writingAhead"),
    ...failed,
    "disk.submitted": {
      targets: ["writingAhead"],
      run: (context, event) => [markSubmitted(context, event), "writingAhead"],
    },
    "disk.written": {
      targets: ["writingAhead", "confirming"],
      run: (context, event) =>
        isAheadWritten(context, event)
          ? [change(context, { aheadWritten: event.outcome }), "writingAhead"]
          : [confirmInFlight(context, event.outcome), "confirming"],
    },
  },
  // Claims 1, 34, 64: write confirmations went to each writer of the batch; count the
  // confirmations of confirmation, and clear the batch (claim 1) when all are in. A writer
  // that misses the batch's deadline (adapted to the confirmations observed) is marked slow
  // and its confirmation counted as outstanding; one that never confirms times out at
  // confirmTimeoutMs as before (the runtime keeps both timers).
  // A batch written ahead may still be on the disk: its flush outcome is kept for its turn,
  // and its failure breaks the spool as any flush failure does.
  confirming: {
    ...busy("confirming"),
    ...failed,
    "writer.confirmed": {
      targets: ["confirming", "promotingAhead"],
      run: (context, event) => {
        if (event.batchId !== context.inFlight?.id) return [context, "confirming"];
        const counted = countConfirmations(context, event.confirmed, event.vanished);
        if (!isLastConfirmation(context, event)) return [counted, "confirming"];
        return [clearInFlight(counted), "promotingAhead"];
      },
    },
    "writer.confirmTimedOut": {
      targets: ["confirming", "promotingAhead"],
      run: (context, event) => {
        if (event.batchId !== context.inFlight?.id) return [context, "confirming"];
        const counted = countConfirmations(context, 0, context.confirmationsPending);
        return [clearInFlight(counted), "promotingAhead"];
      },
    },
    // Issue 17, finding 10: the writers that missed the batch's deadline are marked slow and
    // owe their confirmations; the batch clears without them (see SlowWriters.ts).
    "writer.confirmDeadline": {
      targets: ["confirming", "promotingAhead"],
      run: (context, event) => {
        if (event.batchId !== context.inFlight?.id) return [context, "confirming"];
        const marked = markLate(context, event.late);
        if (marked.confirmationsPending > 0) return [marked, "confirming"];
        return [clearInFlight(marked), "promotingAhead"];
      },
    },
    "disk.submitted": {
      targets: ["confirming"],
      run: (context, event) => [markSubmitted(context, event), "confirming"],
    },
    "disk.written": {
      targets: ["confirming"],
      run: (context, event) =>
        isAheadWritten(context, event)
          ? [change(context, { aheadWritten: event.outcome }), "confirming"]
          : [context, "confirming"],
    },
  },
  // Claim 66: a skipped request's writer is told to resend it now that the batch cleared. The
  // runtime resends for in-process writers and reports in the same turn, so only the resent
  // requests (parked, past the bounds, once) arrive here.
  notifyingSkipped: {
    "sync.requests": {
      targets: ["notifyingSkipped"],
      run: (context, event) => [parkRequests(context, event), "notifyingSkipped"],
    },
    "courier.resent": {
      targets: ["checkingSkipped"],
      run: (context) => [
        change(context, { admission: changeAdmission(context.admission, { resending: [] }) }),
        "checkingSkipped",
      ],
    },
  },
  // The spool takes no more writes until it is reopened: the runtime refuses them at receipt,
  // so only a close comes here (and slow writers' owed confirmations, as everywhere).
  broken: {
    "sync.close": {
      targets: ["closed"],
      run: (context, event) => [markClosing(context, event), "closed"],
    },
  },
  closed: {},
};

/**
 * Events every state takes alike, the final one included, without moving: what each does to
 * the context. A state's own table is looked up first. Issue 17, finding 10: a slow writer's
 * owed confirmation is settled in the runtime's book (`OwedConfirmations`) whenever it comes
 * or lapses, so the machine must count it wherever it is, or the two books part for good (the
 * writer slow forever, or a settlement it did not owe). No batch waits for it.
 *
 * @example Object.keys(SYNCHRONIZER_EVERYWHERE) // ["writer.lateConfirmed"]
 */
export const SYNCHRONIZER_EVERYWHERE: {
  readonly [T in SynchronizerEvent["type"]]?: (
    context: SynchronizerContext,
    event: EventOf<T>,
  ) => SynchronizerContext;
} = {
  "writer.lateConfirmed": countLate,
};

/** The flowchart's diamonds and where each may lead. @example SYNCHRONIZER_CHOICES.checkingSkipped.targets */
export const SYNCHRONIZER_CHOICES: { readonly [C in SynchronizerChoice]: SynchronizerChoiceNode } =
  {
    // Claims 5-13: write the batch now? Claims 15, 64: is its region mapped?
    decidingFlush: {
      targets: ["writing", "mapping", "waitingForTrigger", "waitingForRequest"],
      choose: (context) => {
        const { decision } = context;
        if (decision.flush) {
          const flushing = startFlush(context);
          const segment = flushing.inFlight!.segment!;
          if (context.mapped.includes(segment)) return [writeInFlight(flushing), "writing"];
          return [issueCommand(flushing, { type: "disk.map", segment }), "mapping"];
        }
        // Every way here brings a write: a request, or a timer or close while one waits.
        if (context.admission.batch.writes.length === 0) {
          throw new Error("synchronizer: a flush decision with nothing to write");
        }
        if (decision.wakeInMs === null)
          return [change(context, { wakeInMs: null }), "waitingForRequest"];
        const waiting = change(context, { wakeInMs: decision.wakeInMs });
        return [
          issueCommand(waiting, { type: "timer.wake", inMs: decision.wakeInMs }),
          "waitingForTrigger",
        ];
      },
    },
    // Pipelining: may the batch gathered while one flushes go to the disk beside it?
    decidingAhead: {
      targets: ["writing", "writingAhead"],
      choose: (context) =>
        mayWriteAhead(context) ? [startAhead(context), "writingAhead"] : [context, "writing"],
    },
    // Pipelining: the batch written ahead becomes the in-flight one once the batch before it is
    // cleared; it is confirmed at once if its flush already finished.
    promotingAhead: {
      targets: ["checkingSkipped", "confirming", "decidingAhead"],
      choose: (context) => {
        const { ahead, aheadWritten } = context;
        if (ahead === null) return [context, "checkingSkipped"];
        const promoted = change(context, {
          inFlight: ahead,
          flushReason: context.aheadReason,
          inFlightSubmitted: context.aheadSubmitted,
          ahead: null,
          aheadReason: null,
          aheadSubmitted: false,
          aheadWritten: null,
        });
        if (aheadWritten !== null) return [confirmInFlight(promoted, aheadWritten), "confirming"];
        return [promoted, "decidingAhead"];
      },
    },
    // Claim 64: were any requests skipped or stored in temporary storage?
    checkingSkipped: {
      targets: ["notifyingSkipped", "takingParked", "decidingFlush", "closed", "receiving"],
      choose: (context) => {
        const { admission } = context;
        if (admission.skipped.length > 0) {
          // Claim 66: the skipped requests go out for resending; more may be skipped meanwhile.
          const resending = changeAdmission(admission, {
            skipped: [],
            resending: admission.skipped,
          });
          const command = { type: "courier.resend", requests: admission.skipped } as const;
          return [
            issueCommand(change(context, { admission: resending }), command),
            "notifyingSkipped",
          ];
        }
        if (admission.storage.requests.length > 0) return [context, "takingParked"];
        // Gathered while a batch was on the disk (pipelining): decided afresh now.
        if (admission.batch.writes.length > 0) {
          const decision = decide(context, admission, context.nowMs, context.closing);
          return [change(context, { decision }), "decidingFlush"];
        }
        if (context.closing) return [context, "closed"];
        return [context, "receiving"];
      },
    },
    // Claims 16, 65, 69: stored requests start the new batch, then the flush decision again.
    takingParked: {
      targets: ["decidingFlush"],
      choose: (context) => {
        const admission = admitParked(context.admission, context.nowMs, context.config);
        const decision = decide(context, admission, context.nowMs, context.closing);
        return [change(context, { admission, decision }), "decidingFlush"];
      },
    },
  };

const CHOICES: ReadonlySet<SynchronizerNode> = new Set(
  Object.keys(SYNCHRONIZER_CHOICES) as SynchronizerChoice[],
);

function isChoice(node: SynchronizerNode): node is SynchronizerChoice {
  return CHOICES.has(node);
}

// `event` names the event when `from` is a state (the message is built only on failure).
function checkTarget(
  from: string,
  event: string | undefined,
  targets: readonly SynchronizerNode[],
  to: SynchronizerNode,
) {
  if (targets.includes(to)) return;
  const source = event === undefined ? from : `${from} on ${event}`;
  throw new Error(`synchronizer: ${source} may not lead to ${to}`);
}

/**
 * Takes one event: runs the transition its state lists for it (failing that, the one every
 * state takes, in place; else ignores the event), follows the choices it leads to, and rests in
 * the state they end in. Pure.
 *
 * @example
 * const next = synchronizerTransition(state, { type: "disk.mapped" });
 */
export function synchronizerTransition(
  context: SynchronizerContext,
  event: SynchronizerEvent,
): SynchronizerContext {
  return takeEvent(context, event, undefined);
}

/**
 * {@link synchronizerTransition}, also returning the nodes the event passed through after its
 * state (choices, then the state it rests in; empty when the state ignores the event). For
 * model-based tests and coverage.
 *
 * @example
 * const { next, trail } = traceSynchronizerTransition(state, event); // trail: ["decidingFlush", "mapping"]
 */
export function traceSynchronizerTransition(
  context: SynchronizerContext,
  event: SynchronizerEvent,
): { readonly next: SynchronizerContext; readonly trail: readonly SynchronizerNode[] } {
  const trail: SynchronizerNode[] = [];
  return { next: takeEvent(context, event, trail), trail };
}

function takeEvent(
  context: SynchronizerContext,
  event: SynchronizerEvent,
  trail: SynchronizerNode[] | undefined,
): SynchronizerContext {
  const table = SYNCHRONIZER_STATES[context.phase] as Record<
    string,
    SynchronizerTransition<SynchronizerEvent> | undefined
  >;
  const transition = table[event.type];
  if (transition === undefined) return takeEverywhere(context, event, trail);
  let [next, node] = transition.run(context, event);
  checkTarget(context.phase, event.type, transition.targets, node);
  trail?.push(node);
  while (isChoice(node)) {
    const choice = SYNCHRONIZER_CHOICES[node];
    const from = node;
    [next, node] = choice.choose(next);
    checkTarget(from, undefined, choice.targets, node);
    trail?.push(node);
  }
  // The runtime sees one snapshot per event, so one event may issue one command at most.
  if (next.commandSeq > context.commandSeq + 1) {
    throw new Error(`synchronizer: ${context.phase} on ${event.type} issued two commands`);
  }
  if (next.phase === node) return next;
  if (next === context) return change(next, { phase: node });
  // Made during this event and seen by no one yet: the phase is set in place (one copy less).
  (next as Mutable<SynchronizerContext>).phase = node;
  return next;
}

/** An event no state lists: taken in place if every state takes it, else ignored. */
function takeEverywhere(
  context: SynchronizerContext,
  event: SynchronizerEvent,
  trail: SynchronizerNode[] | undefined,
): SynchronizerContext {
  const everywhere = SYNCHRONIZER_EVERYWHERE[event.type] as
    | ((context: SynchronizerContext, event: SynchronizerEvent) => SynchronizerContext)
    | undefined;
  if (everywhere === undefined) return context;
  const next = everywhere(context, event);
  // A transition taken where it rests: no choice follows, no command is issued.
  if (next.phase !== context.phase || next.commandSeq !== context.commandSeq) {
    throw new Error(`synchronizer: ${event.type} moved the machine or issued a command`);
  }
  trail?.push(context.phase);
  return next;
}

/** The state before the first event. @example initialSynchronizerState(input) */
export function initialSynchronizerState(input: SynchronizerInput): SynchronizerContext {
  return {
    phase: "receiving",
    config: input.config,
    admission: {
      batch: emptyBatch(1 as BatchId),
      storage: emptyStorage(),
      cursor: input.cursor,
      refusal: null,
      skipped: [],
      resending: [],
    },
    inFlight: null,
    flushReason: null,
    inFlightSubmitted: false,
    ahead: null,
    aheadReason: null,
    aheadSubmitted: false,
    aheadWritten: null,
    decision: NO_FLUSH,
    nowMs: input.nowMs,
    wakeInMs: null,
    lastFlushAtMs: input.nowMs,
    mapped: [],
    unflushedFrom: null,
    durableThrough: { segment: input.cursor.segment, offset: input.cursor.offset },
    confirmationsPending: 0,
    slowWriters: [],
    closing: false,
    failure: null,
    stats: {
      flushes: 0,
      flushReasons: ZERO_REASONS,
      recordsWritten: 0,
      bytesWritten: 0,
      batchRecordsMax: 0,
      parked: 0,
      skipped: 0,
      confirmationsReceived: 0,
      confirmationsFailed: 0,
      confirmationsLate: 0,
      writersMarkedSlow: 0,
      writtenAhead: 0,
      splits: 0,
    },
    command: null,
    commandSeq: 0,
  };
}

/**
 * The synchronizer actor logic. Its runtime observes the snapshots and carries out
 * `context.command` whenever `context.commandSeq` advances.
 *
 * @example
 * const actor = createActor(synchronizerLogic, { input });
 * actor.subscribe(({ context }) => run(context.command));
 */
export const synchronizerLogic = transitionLogic<
  SynchronizerContext,
  SynchronizerEvent,
  ActorSystem<never>,
  SynchronizerInput
>(synchronizerTransition, ({ input }) => initialSynchronizerState(input));

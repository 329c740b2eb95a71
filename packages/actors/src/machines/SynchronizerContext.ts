/**
 * The synchronizer machine's context and the pure updates its actions make to it. The machine
 * (SynchronizerMachine.ts) names them; here is what each computes.
 */
import {
  type AdmissionState,
  type AppendCursor,
  admit,
  admitParked,
  assert,
  type Batch,
  type BatchId,
  changeAdmission,
  decideFlush,
  emptyBatch,
  emptyStorage,
  type FlushDecision,
  type FlushFailed,
  type FlushReason,
  InvariantViolation,
  type LogAppended,
  parkAll,
  type SegmentNumber,
  type SpoolConfig,
  type StorageFailed,
  splitBatch,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import { isSlow, oweConfirmations, type SlowWriters } from "./SlowWriters.js";
import type { SynchronizerServices } from "./SynchronizerServices.js";

/** Where bytes have been made durable up to, or written but not yet flushed from. @example { segment, offset } */
export interface LogPosition {
  readonly segment: SegmentNumber;
  readonly offset: number;
}

/**
 * What the write step reached. A replicated log (a `LogAdapter`) numbers the batch's
 * records itself: `log` carries its numbers, which replace the batch's own from then on.
 *
 * @example { level: "flushed" }
 */
export interface WriteOutcome {
  readonly level: "flushed" | "async";
  readonly log?: LogAppended;
}

/**
 * A batch on its way to the disk: why it was closed, whether its bytes were handed over, and,
 * once its flush finished, how far it got and which of its writers are not waited for.
 */
export interface DiskSlot {
  readonly batch: Batch;
  /** The flush condition that closed the batch (claims 5-13). */
  readonly reason: FlushReason;
  /** Whether the adapter took its bytes (its write call returned), as far as the machine knows. */
  readonly submitted: boolean;
  /**
   * Whether the machine asked the flusher to report the submission: it does only when a batch
   * waits to go beside this one, so a batch with nothing behind it costs no event for it.
   */
  readonly submissionAsked: boolean;
  /** Its flush outcome, once the flush finished. */
  readonly written: WriteOutcome | null;
}

/**
 * The synchronizer's context: the data claim 64's flowchart works on, bounded by the batch and
 * temporary storage limits. Counters live outside it (`services.counters`).
 */
export interface SynchronizerContext {
  readonly config: SpoolConfig;
  /** What the machine's actors and counting actions reach: the disk, the writers, the clock. */
  readonly services: SynchronizerServices;
  /** The batch gathering, temporary storage, skipped requests, the log's end. */
  readonly admission: AdmissionState;
  /** The flush policy's verdict on the gathering batch as it stands, decided once per change. */
  readonly decision: FlushDecision;
  readonly nowMs: number;
  readonly lastFlushAtMs: number;
  readonly mapped: readonly SegmentNumber[];
  /** Start of bytes written by `async` batches and not yet covered by a synchronous flush. */
  readonly unflushedFrom: LogPosition | null;
  /** End of the bytes known durable. */
  readonly durableThrough: LogPosition;
  /** The batch being mapped, written or confirmed. */
  readonly inFlight: DiskSlot | null;
  /** Pipelining: a second batch written while the in-flight one flushes, confirmed after it. */
  readonly ahead: DiskSlot | null;
  /** The in-flight batch's writers whose confirmation of confirmation is awaited. */
  readonly confirmationsPending: number;
  /** Writers marked slow and what each still owes; batches do not wait for them. */
  readonly slowWriters: SlowWriters;
  readonly closing: boolean;
  readonly failure: FlushFailed | StorageFailed | null;
}

/** Input to start a synchronizer machine. @example { config, cursor, nowMs: 0, services } */
export interface SynchronizerInput {
  readonly config: SpoolConfig;
  readonly cursor: AppendCursor;
  readonly nowMs: number;
  readonly services: SynchronizerServices;
}

const NO_FLUSH: FlushDecision = { flush: false, wakeInMs: null };

/** The context before the first event. @example initialContext(input) */
export function initialContext(input: SynchronizerInput): SynchronizerContext {
  return {
    config: input.config,
    services: input.services,
    admission: {
      batch: emptyBatch(1 as BatchId),
      storage: emptyStorage(),
      cursor: input.cursor,
      refusal: null,
      skipped: [],
      resending: [],
    },
    decision: NO_FLUSH,
    nowMs: input.nowMs,
    lastFlushAtMs: input.nowMs,
    mapped: [],
    unflushedFrom: null,
    durableThrough: { segment: input.cursor.segment, offset: input.cursor.offset },
    inFlight: null,
    ahead: null,
    confirmationsPending: 0,
    slowWriters: [],
    closing: false,
    failure: null,
  };
}

/** The batch being mapped, written or confirmed: only asked for where there is one. */
export function inFlightBatch(context: SynchronizerContext): DiskSlot["batch"] {
  const { inFlight } = context;
  assert(inFlight !== null, "synchronizer: no batch in flight");
  return inFlight.batch;
}

/** The flush policy's verdict (claims 5-13) on `admission`'s batch at `nowMs`. */
export function decide(
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

/** Counts what one admission step parked and skipped (skips only grow there). */
function countAdmission(
  context: SynchronizerContext,
  before: AdmissionState,
  after: AdmissionState,
): void {
  const skipped = after.skipped.length - before.skipped.length;
  const parked = Math.max(0, after.storage.requests.length - before.storage.requests.length);
  if (skipped !== 0 || parked !== 0) context.services.counters.admitted(parked, skipped);
}

/** Claims 16, 64-66: requests join the batch, or are parked or skipped. */
export function admitRequests(
  context: SynchronizerContext,
  requests: readonly WriteRequest[],
  atMs: number,
): Partial<SynchronizerContext> {
  const nowMs = Math.max(context.nowMs, atMs);
  const admission = admit(context.admission, requests, atMs, context.config);
  countAdmission(context, context.admission, admission);
  return { nowMs, admission, decision: decide(context, admission, nowMs, context.closing) };
}

/** Claims 16, 64-66: requests arriving while a batch is out are parked (or skipped). */
export function parkRequests(
  context: SynchronizerContext,
  requests: readonly WriteRequest[],
  atMs: number,
): Partial<SynchronizerContext> {
  const admission = parkAll(context.admission, requests, context.config);
  countAdmission(context, context.admission, admission);
  return { nowMs: Math.max(context.nowMs, atMs), admission };
}

/** Claims 16, 65, 69: parked requests start the new batch; the flush is decided again. */
export function takeParked(context: SynchronizerContext): Partial<SynchronizerContext> {
  const admission = admitParked(context.admission, context.nowMs, context.config);
  countAdmission(context, context.admission, admission);
  return { admission, decision: decide(context, admission, context.nowMs, context.closing) };
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

/** The decision's reason: only called where a guard saw `decision.flush`. */
function flushReason(decision: FlushDecision): FlushReason {
  assert(decision.flush, "synchronizer: a flush started without a flush decision");
  return decision.reason;
}

function slot(batch: Batch, reason: FlushReason): DiskSlot {
  return { batch, reason, submitted: false, submissionAsked: false, written: null };
}

/**
 * Claims 1, 5-13: the gathering batch becomes the in-flight one. Pipelining: a big batch
 * gathered while the disk is idle is split, and its second half stays gathering, its flush
 * decided already, to go beside the first once the first's bytes are handed over.
 */
export function startFlush(context: SynchronizerContext): Partial<SynchronizerContext> {
  const reason = flushReason(context.decision);
  const batch = context.admission.batch;
  const halves = splitForPipelining(context, batch);
  if (halves !== null) {
    context.services.counters.split();
    return {
      inFlight: slot(halves[0], reason),
      admission: changeAdmission(context.admission, { batch: halves[1] }),
    };
  }
  return { inFlight: slot(batch, reason), ...afterTaking(context, batch) };
}

/**
 * Whether pipelining may put `batch` on the disk beside another: both synchronous (an async
 * batch's flush is covered by a later one, in order), no earlier async bytes left to cover.
 */
export function pipelines(context: SynchronizerContext, batch: Batch): boolean {
  return (
    context.config.pipelineSplitByteSize !== null &&
    batch.durability === "flushed" &&
    context.unflushedFrom === null
  );
}

/**
 * Whether `batch` is worth a flush of its own beside another: at least half of
 * `pipelineSplitByteSize`, as each half of a split is. Smaller ones wait for the in-flight
 * batch to clear and grow meanwhile.
 */
function worthAFlushBeside(context: SynchronizerContext, batch: Batch): boolean {
  const { pipelineSplitByteSize } = context.config;
  return (
    pipelineSplitByteSize !== null &&
    batch.byteSize * 2 >= pipelineSplitByteSize &&
    pipelines(context, batch)
  );
}

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

/**
 * Pipelining: whether the gathering batch would go to the disk beside the in-flight one once
 * the in-flight batch's bytes are handed over.
 */
function readyBeside(context: SynchronizerContext): boolean {
  const { admission, decision, inFlight } = context;
  const batch = admission.batch;
  return (
    decision.flush &&
    context.ahead === null &&
    inFlight !== null &&
    pipelines(context, inFlight.batch) &&
    worthAFlushBeside(context, batch) &&
    batch.segment !== null &&
    context.mapped.includes(batch.segment)
  );
}

/** Pipelining: whether the gathering batch may go to the disk now, beside the in-flight one. */
export function mayWriteAhead(context: SynchronizerContext): boolean {
  return readyBeside(context) && context.inFlight!.submitted;
}

/**
 * Pipelining: the gathering batch waits only for the in-flight batch's bytes to be handed
 * over, and the flusher has not been asked to say when they are.
 */
export function awaitsSubmission(context: SynchronizerContext): boolean {
  return readyBeside(context) && !context.inFlight!.submitted && !context.inFlight!.submissionAsked;
}

/** The flusher was asked to report the in-flight batch's submission. */
export function markSubmissionAsked(context: SynchronizerContext): Partial<SynchronizerContext> {
  return { inFlight: { ...context.inFlight!, submissionAsked: true } };
}

/** Pipelining: the gathering batch goes to the disk while the in-flight batch flushes. */
export function startAhead(context: SynchronizerContext): Partial<SynchronizerContext> {
  const batch = context.admission.batch;
  context.services.counters.wroteAhead();
  return { ahead: slot(batch, flushReason(context.decision)), ...afterTaking(context, batch) };
}

/** Marks the in-flight batch's bytes handed over (a report about another batch is stale). */
export function markSubmitted(
  context: SynchronizerContext,
  batchId: BatchId,
): Partial<SynchronizerContext> {
  const { inFlight } = context;
  if (inFlight?.batch.id === batchId) return { inFlight: { ...inFlight, submitted: true } };
  return {};
}

/** The batch's senders, each once, in the order they first appear. */
export function batchWriters(batch: Batch): readonly WriterId[] {
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

/** The batch's writers the machine does not wait for: the slow ones, in order. */
export function notAwaitedWriters(batch: Batch, slowWriters: SlowWriters): readonly WriterId[] {
  if (slowWriters.length === 0) return [];
  return batchWriters(batch).filter((writer) => isSlow(slowWriters, writer));
}

/**
 * Claims 1, 14, 45: the in-flight batch's flush finished; where the durable data ends moves,
 * the flush is counted, and its writers are owed write confirmations: the slow ones' are not
 * waited for (each owes one more).
 */
export function recordWritten(
  context: SynchronizerContext,
  outcome: WriteOutcome,
): Partial<SynchronizerContext> {
  const inFlight = context.inFlight!;
  const batch =
    outcome.log === undefined ? inFlight.batch : numberedByLog(inFlight.batch, outcome.log);
  const flushed = outcome.level === "flushed";
  context.services.counters.flushed(inFlight.reason, batch.writes.length, batch.byteSize);
  const notAwaited = notAwaitedWriters(batch, context.slowWriters);
  return {
    inFlight: { ...inFlight, batch, written: outcome },
    lastFlushAtMs: context.nowMs,
    durableThrough: flushed
      ? { segment: batch.segment!, offset: batch.endOffset }
      : context.durableThrough,
    unflushedFrom: flushed
      ? null
      : (context.unflushedFrom ?? { segment: batch.segment!, offset: batch.startOffset }),
    confirmationsPending: batchWriters(batch).length - notAwaited.length,
    // Already slow, so none is newly marked: each owes one more.
    slowWriters: oweConfirmations(context.slowWriters, notAwaited).book,
  };
}

/** The batch with the log's sequence numbers in place of its own. */
function numberedByLog(batch: Batch, log: LogAppended): Batch {
  if (log.seqs.length !== batch.writes.length) {
    const counts = `${log.seqs.length} sequence numbers for ${batch.writes.length} writes`;
    throw new InvariantViolation({ message: `the log reported ${counts}` });
  }
  return { ...batch, writes: batch.writes.map((write, at) => ({ ...write, seq: log.seqs[at]! })) };
}

/** The write confirmations' level: `async` while bytes of async batches are not flushed. */
export function confirmationLevel(context: SynchronizerContext): WriteOutcome["level"] {
  return context.unflushedFrom === null ? "flushed" : "async";
}

/** Pipelining: the batch written ahead becomes the in-flight one once the one before cleared. */
export function promoteAhead(context: SynchronizerContext): Partial<SynchronizerContext> {
  return { inFlight: context.ahead, ahead: null };
}

/**
 * Every request the machine holds and has not confirmed: in the batches on the disk, the batch
 * gathering, temporary storage, skipped and being resent. With `confirming: true` a batch
 * whose flush finished counts too (a runtime that failed while confirming it may not have
 * reached every writer; writers already confirmed ignore the failure).
 *
 * @example
 * const held = heldRequests(actor.getSnapshot().context, { confirming: true });
 */
export function heldRequests(
  context: SynchronizerContext,
  options: { readonly confirming: boolean },
): WriteRequest[] {
  const { inFlight, ahead, admission } = context;
  const unconfirmed = inFlight !== null && (inFlight.written === null || options.confirming);
  return [
    ...(unconfirmed ? inFlight.batch.writes.map((write) => write.request) : []),
    ...(ahead?.batch.writes.map((write) => write.request) ?? []),
    ...admission.batch.writes.map((write) => write.request),
    ...admission.storage.requests,
    ...admission.skipped,
    ...admission.resending,
  ];
}

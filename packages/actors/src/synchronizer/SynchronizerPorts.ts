/**
 * The synchronizer runtime's interfaces: how it reaches writers (`WriterEndpoint`), what a
 * writer needs of it (`SynchronizerPort`), what starts it, and what it reports per batch.
 */
import type {
  AppendCursor,
  AppendError,
  BatchId,
  FlushAdapter,
  FlushReason,
  LogAdapter,
  PlacedWrite,
  SpoolConfig,
  SpoolFailed,
  WriteRequest,
  WriterId,
} from "@spool/core";
import type { InspectionEvent, Observer } from "xstate";
import type { WriteOutcome } from "../machines/SynchronizerContext.js";
import type { synchronizerMachine } from "../machines/SynchronizerMachine.js";
import type { GapBytes } from "./BatchWriter.js";
import type { SynchronizerTimers } from "./SynchronizerTimers.js";

/** What hears xstate's inspection events. @example (event) => console.log(event.type) */
export type InspectionObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** The write confirmation a writer receives for its requests in one batch. */
export interface WrittenNotice {
  readonly batchId: BatchId;
  /** This writer's requests in the batch, in batch order, with their sequence numbers. */
  readonly writes: readonly PlacedWrite[];
  readonly level: WriteOutcome["level"];
  /** Set when a replicated log took the batch: how many of its servers hold it at least. */
  readonly replicas: number | null;
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
  /** The disk behind it (a flush adapter), or a replicated log (`@spool/jetstream`). */
  readonly adapter: FlushAdapter | LogAdapter;
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
  /**
   * The machine to run: {@link synchronizerMachine}, or one made from it with
   * `synchronizerMachine.provide({ actors: { flushBatch } })`.
   */
  readonly machine?: typeof synchronizerMachine;
  /** Passed to xstate's `createActor`: hears the machine's inspection events. */
  readonly inspect?: InspectionObserver;
  /** Told of each batch once written and flushed, before its writers are confirmed. */
  readonly onBatch?: (report: BatchReport) => void;
  /**
   * Told once if the synchronizer stops on a fault (see {@link Synchronizer.fail}), after every
   * request it held was failed.
   */
  readonly onFailure?: (failure: SpoolFailed) => void;
  /** See {@link BatchWriterOptions.gapBytes}: the index file keeps its segments' bytes. */
  readonly gapBytes?: GapBytes;
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

/** Called once a request group is queued (claim 34's receipt confirmation). */
export type Receipt = () => void;

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

/**
 * What the synchronizer machine reaches outside itself, passed in its `input`: the disk, the
 * writers, the clock and the counters. The runtime (`Synchronizer`) supplies them; the machine's
 * actors (`mapSegment`, `flushBatch`, `deliverConfirmations`, `resendSkipped`) call them, and
 * a user who provides an actor of their own (`synchronizerMachine.provide({ actors })`) gets
 * them in its input too.
 */
import type {
  AppendError,
  Batch,
  BatchId,
  FlushFailed,
  FlushReason,
  SegmentNumber,
  StorageFailed,
  WriteRequest,
  WriterId,
} from "@spool/core";
import type { SynchronizerCounters } from "../synchronizer/SynchronizerStats.js";
import type { LogPosition, WriteOutcome } from "./SynchronizerContext.js";

/** One batch to write through the map and flush (claims 1, 14, 45). */
export interface FlushJob {
  readonly batch: Batch;
  /** The flush condition that closed it (claims 5-13). */
  readonly reason: FlushReason;
  /** Where bytes of earlier async batches start that this flush must cover, if any. */
  readonly unflushedFrom: LogPosition | null;
  /** The machine's clock when the batch was closed. */
  readonly nowMs: number;
}

/** One batch's write confirmations to deliver (claims 1, 34, 64). */
export interface ConfirmJob {
  readonly batch: Batch;
  readonly level: WriteOutcome["level"];
  /** For a batch a replicated log took: how many of its servers hold it at least. */
  readonly replicas: number | null;
  /** The batch's writers marked slow: their confirmations are not waited for. */
  readonly notAwaited: readonly WriterId[];
}

/** What delivering confirmations reports back to the machine. @example { type: "writer.confirmed", batchId, confirmed: 1, vanished: 0 } */
export type ConfirmationReport =
  | {
      readonly type: "writer.confirmed";
      readonly batchId: BatchId;
      readonly confirmed: number;
      readonly vanished: number;
    }
  | { readonly type: "writer.confirmTimedOut"; readonly batchId: BatchId }
  | {
      readonly type: "writer.confirmDeadline";
      readonly batchId: BatchId;
      readonly late: readonly WriterId[];
    }
  | {
      readonly type: "writer.lateConfirmed";
      readonly writerId: WriterId;
      readonly confirmed: number;
      readonly lapsed: number;
    };

/**
 * The synchronizer's reach into the world.
 *
 * @example
 * createActor(synchronizerMachine, { input: { config, cursor, nowMs: 0, services } })
 */
export interface SynchronizerServices {
  /** Milliseconds, for the flush policy's timed triggers. */
  readonly clock: () => number;
  /** Where the machine's actions count flushes, confirmations, parks and skips. */
  readonly counters: SynchronizerCounters;
  /** Claims 15, 68: maps a segment. Rejects with a storage error when it cannot. */
  map(segment: SegmentNumber): Promise<void>;
  /**
   * Claims 1, 14, 45: writes the batch through the map and flushes it, calling `submitted` once
   * the adapter took its bytes (its staging is free for a batch beside it).
   */
  write(job: FlushJob, submitted: () => void): Promise<WriteOutcome>;
  /**
   * Claims 1, 34: reports the batch durable, sends each writer its write confirmation and
   * reports their confirmations of confirmation (and deadlines, timeouts) through `report`.
   * Returns a function that disarms its timers once the batch no longer waits.
   */
  confirm(job: ConfirmJob, report: (event: ConfirmationReport) => void): () => void;
  /** Claim 66: tells the writers of skipped requests to send them again. */
  resend(requests: readonly WriteRequest[]): void;
  /** These requests will never be written: their writers get `failure`. */
  reject(requests: readonly WriteRequest[], failure: AppendError | null): void;
  /** A fault (an exception where none is expected) in `where`: stops the synchronizer. */
  fault(where: string, error: unknown): void;
}

/** The storage error an I/O failure is reported as. */
export type DiskFailure = FlushFailed | StorageFailed;

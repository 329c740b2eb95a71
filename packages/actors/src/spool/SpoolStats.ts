/**
 * What `spool.stats()` reports: the synchronizer's counters beside the disk budget's and the
 * consumers' queue's, gathered into one plain object.
 */
import type { FlushReason } from "@spool/core";
import { outstandingConfirmations } from "../machines/SlowWriters.js";
import type { Synchronizer } from "../synchronizer/Synchronizer.js";
import type { DiskBudget } from "./DiskBudget.js";
import type { IndexFile } from "./IndexFile.js";
import type { SpoolQueue } from "./SpoolQueue.js";

/** What `spool.stats()` reports. @example spool.stats().flushes */
export interface SpoolStats {
  readonly adapter: string;
  /**
   * The synchronizer's state (`receiving`, `writing`, ...): `broken` after an I/O error,
   * `failed` after a fault of the spool's own (see `Spool.onFailure`), `closed` after close.
   */
  readonly state: string;
  readonly flushes: number;
  readonly flushReasons: Readonly<Record<FlushReason, number>>;
  readonly records: number;
  readonly bytes: number;
  readonly batchRecordsMean: number;
  readonly batchRecordsMax: number;
  readonly parked: number;
  readonly skipped: number;
  readonly confirmationsReceived: number;
  readonly confirmationsFailed: number;
  /**
   * Slow writers (issue 17, finding 10): confirmations of confirmation counted after their
   * batch cleared, times a writer was marked slow, writers marked slow now, and the
   * confirmations they still owe (none of which any batch waits for).
   */
  readonly confirmationsLate: number;
  readonly writersMarkedSlow: number;
  readonly slowWriters: number;
  readonly confirmationsOutstanding: number;
  /** Batches written beside another still flushing, and batches written as two (pipelining). */
  readonly writtenAhead: number;
  readonly splits: number;
  /** Data segments recycled or deleted because all their messages were done. */
  readonly segmentsReclaimed: number;
  /**
   * Data segments this open made new: zero-filled and flushed (or created sparse when appends
   * outran the zero fill), and made by renaming a reclaimed one instead (no zero fill: issue 20).
   */
  readonly segmentsZeroFilled: number;
  readonly segmentsRecycled: number;
  /** Why reclaiming segments stopped, if it failed (segments are then kept, never lost). */
  readonly reclaimFailure: string | null;
  /** Messages not done (dead letters excluded). */
  readonly depth: number;
  /** Messages not done, by state (dead letters moved out of reclaimed segments included). */
  readonly messages: Readonly<Record<"queued" | "leased" | "retryWait" | "dead", number>>;
  /** `consume` answers that came too late: the lease had expired and passed to another. */
  readonly leasesLost: number;
  /**
   * Leases that ran out before their consumer answered, counted when a take found them due
   * (so an expired lease nobody takes after is not counted yet).
   */
  readonly leasesExpired: number;
  /** Leases handed out since the spool opened (`take`, `takeMany`, `consume`). */
  readonly leases: number;
  /** Acks made durable since the spool opened (`ack` and `consume`'s acks). */
  readonly acks: number;
  /** Nacks made durable since the spool opened (`nack` and `consume`'s nacks). */
  readonly nacks: number;
  /** Messages made dead letters since the spool opened, once durable. */
  readonly deadLettered: number;
  /** The index file's flushes, and the entries (leases, acks, nacks, ...) they made durable. */
  readonly indexFlushes: number;
  readonly indexEntries: number;
}

/** The parts of a spool that {@link spoolStats} reads. @example { adapterName, synchronizer, budget, queue, index } */
export interface SpoolStatsSources {
  readonly adapterName: string;
  readonly synchronizer: Synchronizer;
  readonly budget: DiskBudget;
  readonly queue: SpoolQueue;
  readonly index: IndexFile;
}

/**
 * The spool's counters now.
 *
 * @example
 * const { flushes, depth } = spoolStats({ adapterName, synchronizer, budget, queue, index });
 */
export function spoolStats(sources: SpoolStatsSources): SpoolStats {
  const { synchronizer, budget, queue } = sources;
  const stats = synchronizer.stats();
  const index = sources.index.stats();
  return {
    adapter: sources.adapterName,
    state: synchronizer.state(),
    flushes: stats.flushes,
    flushReasons: stats.flushReasons,
    records: stats.recordsWritten,
    bytes: stats.bytesWritten,
    // Mean rounded to two decimals for display; zero flushes gives 0, not NaN.
    batchRecordsMean:
      stats.flushes === 0 ? 0 : Math.round((stats.recordsWritten / stats.flushes) * 100) / 100,
    batchRecordsMax: stats.batchRecordsMax,
    parked: stats.parked,
    skipped: stats.skipped,
    confirmationsReceived: stats.confirmationsReceived,
    confirmationsFailed: stats.confirmationsFailed,
    confirmationsLate: stats.confirmationsLate,
    writersMarkedSlow: stats.writersMarkedSlow,
    slowWriters: synchronizer.slowWriters().length,
    confirmationsOutstanding: outstandingConfirmations(synchronizer.slowWriters()),
    writtenAhead: stats.writtenAhead,
    splits: stats.splits,
    segmentsReclaimed: budget.segmentsReclaimed,
    segmentsZeroFilled: budget.segmentsPrepared.zeroFilled,
    segmentsRecycled: budget.segmentsPrepared.recycled,
    reclaimFailure: budget.reclaimFailure === undefined ? null : String(budget.reclaimFailure),
    depth: queue.depth(),
    messages: queue.messageCounts(),
    leasesLost: queue.leasesLost,
    leasesExpired: queue.leasesExpired,
    leases: queue.leases,
    acks: queue.acks,
    nacks: queue.nacks,
    deadLettered: queue.deadLettered,
    indexFlushes: index.flushes,
    indexEntries: index.recordsWritten,
  };
}

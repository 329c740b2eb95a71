/**
 * The batches a spool has written, for observers: the last few kept for a live view, and each
 * one passed to the listeners of `spool.onBatch` as it is flushed.
 */
import { checkFunction } from "../internal/Arguments.js";
import type { BatchReport } from "../synchronizer/Synchronizer.js";

/** How many batches `Spool.recentBatches` keeps: a screenful for a live view. */
export const RECENT_BATCHES = 32;

/**
 * The recent batches and their listeners.
 *
 * @example
 * const reports = new BatchReports();
 * const stop = reports.listen((batch) => histogram.observe(batch.records));
 */
export class BatchReports {
  readonly #listeners = new Set<(report: BatchReport) => void>();
  readonly #recent: BatchReport[] = [];

  /** Adds a listener (throws `InvalidArgument` when it is not a function); returns its remover. */
  listen(listener: (report: BatchReport) => void): () => void {
    checkFunction(listener, "listener");
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The last {@link RECENT_BATCHES} batches, oldest first. */
  recent(): readonly BatchReport[] {
    return [...this.#recent];
  }

  /** Keeps a written batch's report and passes it to every listener. */
  written(report: BatchReport): void {
    this.#recent.push(report);
    if (this.#recent.length > RECENT_BATCHES) this.#recent.shift();
    for (const listener of this.#listeners) {
      // A listener is an observer: its failure must not stop the batch's confirmations.
      try {
        listener(report);
      } catch {
        this.#listeners.delete(listener);
      }
    }
  }
}

/**
 * Claims 1, 14, 45 on a replicated log: a batch's way to a {@link LogAdapter}, where the
 * {@link BatchWriter} takes one to the disk. There is no region to map and no record to encode:
 * the log keeps each request's payload as a message of its own, and its acknowledgement of the
 * whole batch is the batch's flush. Its sequence numbers replace the batch's own.
 */
import { InvariantViolation, type LogAdapter } from "@spool/core";
import type { WriteOutcome } from "../machines/SynchronizerContext.js";
import type { FlushJob } from "../machines/SynchronizerServices.js";

/**
 * What the synchronizer needs of the store behind it: {@link BatchWriter} for a flush adapter,
 * {@link LogWriter} for a log.
 */
export interface BatchSink {
  /** Claims 15, 68: maps a segment (a log has none: nothing to do). */
  map(segment: number): Promise<void>;
  /** Writes the batch and flushes it; `submitted` once its bytes were handed over. */
  write(job: FlushJob, submitted: () => void): Promise<WriteOutcome>;
}

/**
 * Appends batches to a log.
 *
 * @example
 * const outcome = await new LogWriter(log).write(job, () => undefined);
 */
export class LogWriter implements BatchSink {
  readonly #log: LogAdapter;

  constructor(log: LogAdapter) {
    this.#log = log;
  }

  /** A log is always ready to take a batch: the region is "mapped" already. */
  map(): Promise<void> {
    return Promise.resolve();
  }

  async write(job: FlushJob, submitted: () => void): Promise<WriteOutcome> {
    const requests = job.batch.writes.map(({ request }) => {
      if (request.target !== undefined) {
        throw new InvariantViolation({ message: "a log takes appends, not positioned writes" });
      }
      return request;
    });
    const log = await this.#log.append(requests, submitted);
    return { level: "flushed", log };
  }
}

/**
 * What the synchronizer machine says and hears, and the actors it invokes: `mapSegment` for
 * `mapping`, and the `flusher` and `courier`, which it invokes for its whole life and sends each
 * batch to (with pipelining two batches are on the disk at once, and a batch's flush outlives
 * the state that started it). Each reaches the world through the {@link SynchronizerServices}
 * it gets as input; `synchronizerMachine.provide({ actors })` may replace any of them.
 */
import type { BatchId, SegmentNumber, WriteRequest } from "@spool/core";
import { fromCallback, fromPromise } from "xstate";
import { asStorageFailure, isInputOutputError } from "../spool/SpoolFailure.js";
import type { WriteOutcome } from "./SynchronizerContext.js";
import type {
  ConfirmationReport,
  ConfirmJob,
  DiskFailure,
  FlushJob,
  SynchronizerServices,
} from "./SynchronizerServices.js";

/** Events the synchronizer takes. @example actor.send({ type: "sync.requests", requests, atMs }) */
export type SynchronizerEvent =
  | {
      readonly type: "sync.requests";
      readonly requests: readonly WriteRequest[];
      readonly atMs: number;
    }
  | { readonly type: "sync.close"; readonly atMs: number }
  | { readonly type: "disk.submitted"; readonly batchId: BatchId }
  | { readonly type: "disk.written"; readonly batchId: BatchId; readonly outcome: WriteOutcome }
  | { readonly type: "disk.failed"; readonly batchId: BatchId; readonly error: DiskFailure }
  | ConfirmationReport
  | { readonly type: "courier.resent"; readonly count: number };

/**
 * What the `flusher` actor takes: a batch to write and flush, or a request to report when a
 * batch's bytes were handed over (`disk.submitted`, at once if they were already).
 *
 * @example { type: "flush", job }
 */
export type FlusherEvent =
  | { readonly type: "flush"; readonly job: FlushJob }
  | { readonly type: "reportSubmitted"; readonly batchId: BatchId };

/** What the `courier` actor takes. @example { type: "confirm", job } */
export type CourierEvent =
  | { readonly type: "confirm"; readonly job: ConfirmJob }
  | { readonly type: "settled" }
  | { readonly type: "resend"; readonly requests: readonly WriteRequest[] };

/** The synchronizer machine's actors, as `setup` takes them. */
export const synchronizerActors = {
  /** Claims 15, 68: map the region. */
  mapSegment: fromPromise<
    void,
    { readonly segment: SegmentNumber; readonly services: SynchronizerServices }
  >(({ input }) => input.services.map(input.segment)),
  /**
   * Claims 1, 14, 45: writes each batch it is sent through the map, then flushes it,
   * answering `disk.written` (or `disk.failed`); asked (`reportSubmitted`), it answers
   * `disk.submitted` once the batch's bytes are handed over. One actor for the machine's
   * life, not one per batch: creating, starting and stopping an actor per batch measured
   * about 25 µs here, a fifth of a single writer's whole cycle.
   *
   * The submission is reported only when asked because the main thread's work right after
   * an fdatasync is issued delays that fdatasync on this machine (a 60-100 µs spin there
   * stretched a 150 µs flush to 240 µs): a batch with nothing waiting behind it costs no event.
   */
  flusher: fromCallback<FlusherEvent, { readonly services: SynchronizerServices }>(
    ({ input, sendBack, receive }) => {
      const { services } = input;
      // Batches on the disk (at most two): whether their bytes were handed over, and
      // whether the machine asked to hear when.
      const onDisk = new Map<BatchId, { submitted: boolean; asked: boolean }>();
      receive((event) => {
        if (event.type === "reportSubmitted") {
          const batch = onDisk.get(event.batchId);
          if (batch === undefined) return;
          if (batch.submitted) sendBack({ type: "disk.submitted", batchId: event.batchId });
          else batch.asked = true;
          return;
        }
        const { job } = event;
        const batchId = job.batch.id;
        const batch = { submitted: false, asked: false };
        onDisk.set(batchId, batch);
        const submitted = (): void => {
          batch.submitted = true;
          if (batch.asked) sendBack({ type: "disk.submitted", batchId });
        };
        services.write(job, submitted).then(
          (outcome) => {
            onDisk.delete(batchId);
            sendBack({ type: "disk.written", batchId, outcome });
          },
          (error: unknown) => {
            onDisk.delete(batchId);
            // An I/O error breaks the spool as the machine says; anything else is a fault.
            if (isInputOutputError(error)) {
              sendBack({ type: "disk.failed", batchId, error: asStorageFailure(error) });
            } else {
              services.fault("the adapter (disk.write)", error);
            }
          },
        );
      });
    },
  ),
  /**
   * Claims 1, 34, 64, 66: the way to the writers, for the machine's life. `confirm` sends a
   * batch's write confirmations and reports the confirmations of them until `settled` (the
   * batch no longer waits: its timers are disarmed); `resend` tells the writers of skipped
   * requests to send them again, answered by `courier.resent`.
   */
  courier: fromCallback<CourierEvent, { readonly services: SynchronizerServices }>(
    ({ input, sendBack, receive }) => {
      const { services } = input;
      let settle: (() => void) | undefined;
      receive((event) => {
        if (event.type === "confirm") {
          settle?.();
          settle = services.confirm(event.job, sendBack);
        } else if (event.type === "settled") {
          settle?.();
          settle = undefined;
        } else {
          services.resend(event.requests);
          sendBack({ type: "courier.resent", count: event.requests.length });
        }
      });
      return () => settle?.();
    },
  ),
};

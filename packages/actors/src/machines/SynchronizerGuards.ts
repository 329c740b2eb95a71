/**
 * The synchronizer machine's guards: claim 64's diamonds, and the pipelining questions beside
 * them. Each reads only the machine's context and the event.
 */
import { assertEvent } from "xstate";
import type { SynchronizerEvent } from "./SynchronizerActors.js";
import {
  awaitsSubmission,
  inFlightBatch,
  mayWriteAhead,
  pipelines,
  type SynchronizerContext,
} from "./SynchronizerContext.js";

/** What a guard reads. */
interface GuardArgs {
  readonly context: SynchronizerContext;
  readonly event: SynchronizerEvent;
}

/** The batch a batch-scoped event is about. */
function eventBatch(event: SynchronizerEvent) {
  return "batchId" in event ? event.batchId : undefined;
}

/** The synchronizer machine's guards, as `setup` takes them. */
export const synchronizerGuards = {
  /** Claims 5-13: a flush condition holds for the gathering batch. */
  shouldFlush: ({ context }: GuardArgs) => context.decision.flush,
  /** Claim 67: a timed trigger (idle, gather, since last flush) will fire later. */
  hasTimedTrigger: ({ context }: GuardArgs) =>
    !context.decision.flush && context.decision.wakeInMs !== null,
  /** Claims 15, 64: the in-flight batch's region is mapped already. */
  isMapped: ({ context }: GuardArgs) => {
    const { segment } = context.admission.batch;
    return segment !== null && context.mapped.includes(segment);
  },
  /** Pipelining: arrivals while the in-flight batch flushes may gather into the next batch. */
  gathersBeside: ({ context }: GuardArgs) => pipelines(context, inFlightBatch(context)),
  /** Pipelining: a batch gathered while one flushes is ready to be written. */
  hasBatchWaiting: ({ context }: GuardArgs) =>
    context.decision.flush && context.admission.batch.writes.length > 0,
  /** Pipelining: the gathering batch may go to the disk beside the in-flight one. */
  mayWriteAhead: ({ context }: GuardArgs) => mayWriteAhead(context),
  /** Pipelining: it may, once the in-flight batch's bytes are handed over; not yet asked. */
  awaitsSubmission: ({ context }: GuardArgs) => awaitsSubmission(context),
  /** The event is about the batch written ahead (it finished before the in-flight one). */
  isAheadBatch: ({ context, event }: GuardArgs) =>
    context.ahead !== null && eventBatch(event) === context.ahead.batch.id,
  /** The event is about the in-flight batch. */
  isInFlightBatch: ({ context, event }: GuardArgs) =>
    context.inFlight !== null && eventBatch(event) === context.inFlight.batch.id,
  /** Claims 1, 64: these confirmations of confirmation are the last the batch waits for. */
  isLastConfirmation: ({ context, event }: GuardArgs) => {
    assertEvent(event, "writer.confirmed");
    return context.confirmationsPending - event.confirmed - event.vanished <= 0;
  },
  /** Pipelining: a batch was written ahead. */
  hasAhead: ({ context }: GuardArgs) => context.ahead !== null,
  /** Pipelining: the batch written ahead already finished its flush. */
  aheadWritten: ({ context }: GuardArgs) => context.ahead?.written != null,
  /** Claims 64, 66: requests were skipped (temporary storage was full). */
  hasSkipped: ({ context }: GuardArgs) => context.admission.skipped.length > 0,
  /** Claims 16, 64-65: requests wait in temporary storage. */
  hasParked: ({ context }: GuardArgs) => context.admission.storage.requests.length > 0,
  /** Requests gathered while a batch was on the disk (pipelining). */
  hasGathered: ({ context }: GuardArgs) => context.admission.batch.writes.length > 0,
  isClosing: ({ context }: GuardArgs) => context.closing,
};

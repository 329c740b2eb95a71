/**
 * The synchronizer: claim 64's flowchart as an xstate statechart, run by xstate.
 *
 * receive → decide add / park / skip → add → decide flush → mapped? → map → write → send write
 * confirmations → count confirmations of confirmation → clear → skipped or stored? → take parked
 * requests → loop back.
 *
 * The flowchart's diamonds are named guards taken by `always` transitions (`decidingFlush`:
 * `shouldFlush`, `isMapped`, `hasTimedTrigger`; `checkingSkipped`:
 * `hasSkipped`, `hasParked`, `hasGathered`, `isClosing`; ...); the boxes that wait on the world
 * are states waiting for actors: `mapping` invokes `mapSegment`; `writing` waits for the
 * `flusher`, `confirming` and `notifyingSkipped` for the `courier`, two actors the machine
 * invokes for its whole life and sends each batch to (with pipelining two batches are on the
 * disk at once, and a batch's flush outlives the state that started it; and an actor per batch
 * measured about 25 µs to create, start and stop, a fifth of a single writer's cycle); and
 * `waitingForTrigger` waits for its `after` delay (the flush policy's next timed trigger).
 *
 * Events are coarse: one `sync.requests` carries every request drained from the intake in one
 * microtask, one `writer.confirmed` every confirmation gathered in one microtask, so the machine
 * takes a handful of events per batch, not per message. Its context is small (config, where the
 * log stands, the batches out); counters live in `services.counters`, outside it.
 *
 * Pipelining (`pipelineSplitByteSize`): at most two batches on the disk. While the in-flight
 * batch flushes, arrivals gather into the next one, which goes to the disk beside it once the
 * first batch's bytes were handed over (`writing` asks the flusher to say when, and it answers
 * `disk.submitted`; `decidingAhead` → `writingAhead`).
 * Write confirmations stay in batch order: the batch written ahead is confirmed only after the
 * one before it cleared (`promotingAhead`), whichever flush finished first.
 *
 * Slow writers (issue 17, finding 10): a writer that misses its batch's confirmation deadline
 * is marked slow (`writer.confirmDeadline`) and the batch clears with its confirmation owed;
 * batches do not wait for a slow writer, whose confirmations are counted as they come
 * (`writer.lateConfirmed`, taken in every state) until it owes none. See `SlowWriters.ts`.
 *
 * Extension: `synchronizerMachine.provide({ actors: { flusher } })` replaces how batches are
 * written and flushed (it gets the services as input, a `{ type: "flush", job }` event per
 * batch, answered with `disk.written` or `disk.failed`, and `{ type: "reportSubmitted" }`
 * when a batch waits to go beside one, answered with `disk.submitted`; a flusher that never
 * answers that only gives up pipelining); a custom `FlushAdapter` remains the simpler route.
 * The actors are in SynchronizerActors.ts, the guards in SynchronizerGuards.ts.
 */
import { InvariantViolation } from "@spool/core";
import { and, assertEvent, assign, type SnapshotFrom, sendTo, setup } from "xstate";
import { asStorageFailure } from "../spool/SpoolFailure.js";
import { oweConfirmations, settleConfirmations } from "./SlowWriters.js";
import { type SynchronizerEvent, synchronizerActors } from "./SynchronizerActors.js";
import {
  admitRequests,
  confirmationLevel,
  type DiskSlot,
  decide,
  heldRequests,
  inFlightBatch,
  initialContext,
  markSubmissionAsked,
  markSubmitted,
  notAwaitedWriters,
  parkRequests,
  promoteAhead,
  recordWritten,
  type SynchronizerContext,
  type SynchronizerInput,
  startAhead,
  startFlush,
  takeParked,
} from "./SynchronizerContext.js";
import { synchronizerGuards } from "./SynchronizerGuards.js";
import type { FlushJob } from "./SynchronizerServices.js";

export type { CourierEvent, FlusherEvent, SynchronizerEvent } from "./SynchronizerActors.js";

function flushJob(context: SynchronizerContext, slot: DiskSlot, unflushed: boolean): FlushJob {
  return {
    batch: slot.batch,
    reason: slot.reason,
    unflushedFrom: unflushed ? context.unflushedFrom : null,
    nowMs: context.nowMs,
  };
}

/**
 * The synchronizer machine. Run it with `createActor(synchronizerMachine, { input })`; the
 * `Synchronizer` runtime does, with the spool's services.
 *
 * @example
 * const actor = createActor(synchronizerMachine, { input: { config, cursor, nowMs, services } });
 */
export const synchronizerMachine = setup({
  types: {
    context: {} as SynchronizerContext,
    events: {} as SynchronizerEvent,
    input: {} as SynchronizerInput,
  },
  actors: synchronizerActors,
  guards: synchronizerGuards,
  actions: {
    admitRequests: assign(({ context, event }) => {
      assertEvent(event, "sync.requests");
      return admitRequests(context, event.requests, event.atMs);
    }),
    parkRequests: assign(({ context, event }) => {
      assertEvent(event, "sync.requests");
      return parkRequests(context, event.requests, event.atMs);
    }),
    markClosing: assign(({ context, event }) => {
      assertEvent(event, "sync.close");
      const nowMs = Math.max(context.nowMs, event.atMs);
      return { closing: true, nowMs, decision: decide(context, context.admission, nowMs, true) };
    }),
    // A timer fires at or after its time: advancing the clock by at least the delay is a lower
    // bound on the real time, so a timed trigger can never fire early.
    advanceClock: assign(({ context }) => {
      const { decision } = context;
      const waitedMs = decision.flush ? 0 : (decision.wakeInMs ?? 0);
      const nowMs = Math.max(context.nowMs + waitedMs, context.services.clock());
      return { nowMs, decision: decide(context, context.admission, nowMs, context.closing) };
    }),
    redecide: assign(({ context }) => ({
      decision: decide(context, context.admission, context.nowMs, context.closing),
    })),
    startFlush: assign(({ context }) => startFlush(context)),
    checkGathered: ({ context }) => {
      if (context.admission.batch.writes.length === 0) {
        throw new InvariantViolation({
          message: "synchronizer: a flush decision with nothing to write",
        });
      }
    },
    markMapped: assign(({ context }) => ({
      mapped: [...context.mapped, inFlightBatch(context).segment!],
    })),
    writeInFlight: sendTo("flusher", ({ context }) => ({
      type: "flush" as const,
      job: flushJob(context, context.inFlight!, true),
    })),
    startAhead: assign(({ context }) => startAhead(context)),
    /** Pipelining: the flusher is asked to say when the in-flight batch's bytes are handed over. */
    askSubmitted: sendTo("flusher", ({ context }) => ({
      type: "reportSubmitted" as const,
      batchId: inFlightBatch(context).id,
    })),
    noteSubmissionAsked: assign(({ context }) => markSubmissionAsked(context)),
    /** Claims 1, 34: the write confirmations go out for the in-flight batch. */
    sendConfirmations: sendTo("courier", ({ context }) => ({
      type: "confirm" as const,
      job: {
        batch: inFlightBatch(context),
        level: confirmationLevel(context),
        replicas: context.inFlight?.written?.log?.replicas ?? null,
        notAwaited: notAwaitedWriters(inFlightBatch(context), context.slowWriters),
      },
    })),
    /**
     * A batch left before every confirmation came (timed out, late writers marked slow, the
     * spool broke): its timers are disarmed and later confirmations are not reported for it.
     * A batch whose confirmations all came needs no word: its timers went with the last one.
     */
    settleConfirmations: sendTo("courier", { type: "settled" as const }),
    /** Claim 66: the skipped requests' writers are told to resend them. */
    askResend: sendTo("courier", ({ context }) => ({
      type: "resend" as const,
      requests: context.admission.resending,
    })),
    writeAhead: sendTo("flusher", ({ context }) => ({
      type: "flush" as const,
      job: flushJob(context, context.ahead!, false),
    })),
    markSubmitted: assign(({ context, event }) => {
      assertEvent(event, "disk.submitted");
      return markSubmitted(context, event.batchId);
    }),
    recordWritten: assign(({ context, event }) => {
      assertEvent(event, "disk.written");
      return recordWritten(context, event.outcome);
    }),
    recordAheadWritten: assign(({ context, event }) => {
      assertEvent(event, "disk.written");
      return { ahead: { ...context.ahead!, written: event.outcome } };
    }),
    promoteAhead: assign(({ context }) => promoteAhead(context)),
    recordPromotedWritten: assign(({ context }) =>
      recordWritten(context, context.inFlight!.written!),
    ),
    countConfirmations: assign(({ context, event }) => {
      assertEvent(event, "writer.confirmed");
      context.services.counters.confirmations(event.confirmed, event.vanished);
      return {
        confirmationsPending: context.confirmationsPending - event.confirmed - event.vanished,
      };
    }),
    /** Claim 1: the last confirmations came; the batch is cleared. */
    clearConfirmed: assign(({ context, event }) => {
      assertEvent(event, "writer.confirmed");
      context.services.counters.confirmations(event.confirmed, event.vanished);
      return { inFlight: null, confirmationsPending: 0 };
    }),
    /** Claim 1: the writers that never confirmed are counted failed; the batch is cleared. */
    clearTimedOut: assign(({ context }) => {
      context.services.counters.confirmations(0, context.confirmationsPending);
      return { inFlight: null, confirmationsPending: 0 };
    }),
    /** Issue 17, finding 10: the late writers are marked slow, owing; the batch is cleared. */
    clearLate: assign(({ context, event }) => {
      assertEvent(event, "writer.confirmDeadline");
      // The deadline names every writer the batch still waits for (Confirmations.ts).
      if (event.late.length !== context.confirmationsPending) {
        throw new InvariantViolation({
          message: "synchronizer: the late writers are not the ones still awaited",
        });
      }
      const { book, marked } = oweConfirmations(context.slowWriters, event.late);
      context.services.counters.markedSlow(marked);
      return { inFlight: null, confirmationsPending: 0, slowWriters: book };
    }),
    countLate: assign(({ context, event }) => {
      assertEvent(event, "writer.lateConfirmed");
      const { writerId, confirmed, lapsed } = event;
      context.services.counters.late(confirmed, lapsed);
      return {
        slowWriters: settleConfirmations(context.slowWriters, writerId, confirmed + lapsed),
      };
    }),
    takeSkippedForResend: assign(({ context }) => ({
      admission: { ...context.admission, skipped: [], resending: context.admission.skipped },
    })),
    resent: assign(({ context }) => ({ admission: { ...context.admission, resending: [] } })),
    takeParked: assign(({ context }) => takeParked(context)),
    recordFailure: assign(({ event }) => ({
      failure: asStorageFailure((event as { error?: unknown }).error),
    })),
    /** Every request held gets the failure: the spool takes no more writes. */
    rejectHeld: ({ context }) =>
      context.services.reject(heldRequests(context, { confirming: false }), context.failure),
  },
  delays: {
    /** Claim 67: until the flush policy's next timed trigger. */
    nextTrigger: ({ context }) => (context.decision.flush ? 0 : (context.decision.wakeInMs ?? 0)),
  },
}).createMachine({
  id: "synchronizer",
  context: ({ input }) => initialContext(input),
  // Claims 1, 14, 45 and 1, 34: the actors that write and flush every batch and reach the
  // writers, for the machine's life (SynchronizerActors.ts).
  invoke: [
    { id: "flusher", src: "flusher", input: ({ context }) => ({ services: context.services }) },
    { id: "courier", src: "courier", input: ({ context }) => ({ services: context.services }) },
  ],
  initial: "receiving",
  on: {
    // Every state counts a slow writer's owed confirmations where it is: no batch waits for them.
    "writer.lateConfirmed": { actions: "countLate" },
  },
  states: {
    receiving: {
      description: "Claim 64: receive a write request (the batch is empty, nothing is parked).",
      meta: { claims: [64] },
      on: {
        "sync.requests": { target: "decidingFlush", actions: "admitRequests" },
        "sync.close": { target: "closed", actions: "markClosing" },
      },
    },
    decidingFlush: {
      description:
        "Claims 5-13: write the batch now, or wait for a trigger or a request? Claims 15, 64: written at once if its region is mapped, else mapped first.",
      meta: { claims: [5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 64, 67], choice: true },
      always: [
        // Claims 15, 64: is the batch's region mapped? Mapped, it is written at once.
        {
          guard: and(["shouldFlush", "isMapped"]),
          target: "writing",
          actions: ["startFlush", "writeInFlight"],
        },
        { guard: "shouldFlush", target: "mapping", actions: "startFlush" },
        { guard: "hasTimedTrigger", target: "waitingForTrigger", actions: "checkGathered" },
        { target: "waitingForRequest", actions: "checkGathered" },
      ],
    },
    waitingForTrigger: {
      description: "Claim 67: not flushing yet; loop back to receive until the next timed trigger.",
      meta: { claims: [67] },
      after: { nextTrigger: { target: "decidingFlush", actions: "advanceClock" } },
      on: {
        "sync.requests": { target: "decidingFlush", actions: "admitRequests" },
        "sync.close": { target: "decidingFlush", actions: "markClosing" },
      },
    },
    waitingForRequest: {
      description: "Claim 67 with no timed trigger: only a request (or a close) moves on.",
      meta: { claims: [67] },
      on: {
        "sync.requests": { target: "decidingFlush", actions: "admitRequests" },
        "sync.close": { target: "decidingFlush", actions: "markClosing" },
      },
    },
    mapping: {
      description: "Claims 15, 68: map the region; arrivals are parked meanwhile.",
      meta: { claims: [15, 16, 64, 68] },
      invoke: {
        id: "map",
        src: "mapSegment",
        input: ({ context }) => ({
          segment: inFlightBatch(context).segment!,
          services: context.services,
        }),
        onDone: { target: "writing", actions: ["markMapped", "writeInFlight"] },
        // The runtime reports a fault itself (SpoolFailed); what reaches here breaks the spool.
        onError: { target: "failing", actions: "recordFailure" },
      },
      on: {
        "sync.requests": { actions: "parkRequests" },
        "sync.close": { actions: "markClosing" },
      },
    },
    writing: {
      description:
        "Claims 1, 14, 45: the batch is written through the map and flushed. Pipelining: arrivals gather into the next batch, which may go beside it once its bytes are handed over; otherwise they are parked.",
      meta: { claims: [1, 14, 16, 45, 64] },
      // Pipelining: a batch waits to go beside this one: the flusher is asked to say when this
      // one's bytes are handed over (once; a batch with nothing behind it is never asked about).
      always: { guard: "awaitsSubmission", actions: ["noteSubmissionAsked", "askSubmitted"] },
      on: {
        "sync.requests": [
          { guard: "gathersBeside", target: "decidingAhead", actions: "admitRequests" },
          { actions: "parkRequests" },
        ],
        "sync.close": { target: "decidingAhead", actions: "markClosing" },
        // Pipelining: a gathered batch may go beside this one now; otherwise nothing to decide.
        // Pipelining: the answer to `askSubmitted`: the batch waiting may go beside this one.
        "disk.submitted": {
          guard: "hasBatchWaiting",
          target: "decidingAhead",
          actions: "markSubmitted",
        },
        "disk.written": { target: "confirming", actions: "recordWritten" },
        "disk.failed": { target: "failing", actions: "recordFailure" },
      },
    },
    decidingAhead: {
      description: "Pipelining: may the batch gathered while one flushes go to the disk beside it?",
      meta: { claims: [1, 64], choice: true },
      always: [
        { guard: "mayWriteAhead", target: "writingAhead", actions: ["startAhead", "writeAhead"] },
        { target: "writing" },
      ],
    },
    writingAhead: {
      description:
        "Pipelining: two batches on the disk; the in-flight one is confirmed first, whichever flush finishes first. Arrivals are parked.",
      meta: { claims: [1, 16, 64] },
      on: {
        "sync.requests": { actions: "parkRequests" },
        "sync.close": { actions: "markClosing" },
        "disk.written": [
          { guard: "isAheadBatch", actions: "recordAheadWritten" },
          { target: "confirming", actions: "recordWritten" },
        ],
        "disk.failed": { target: "failing", actions: "recordFailure" },
      },
    },
    confirming: {
      description:
        "Claims 1, 34, 64: write confirmations went to each writer of the batch; count the confirmations of confirmation and clear the batch when all are in. A writer that misses the batch's deadline is marked slow and owes its confirmation; one that never confirms times out.",
      meta: { claims: [1, 34, 64] },
      entry: "sendConfirmations",
      on: {
        "sync.requests": { actions: "parkRequests" },
        "sync.close": { actions: "markClosing" },
        // Claim 1: the last confirmation clears the batch; a batch written ahead is next.
        "writer.confirmed": [
          {
            guard: and(["isInFlightBatch", "isLastConfirmation", "hasAhead"]),
            target: "promotingAhead",
            actions: "clearConfirmed",
          },
          {
            guard: and(["isInFlightBatch", "isLastConfirmation"]),
            target: "checkingSkipped",
            actions: "clearConfirmed",
          },
          { guard: "isInFlightBatch", actions: "countConfirmations" },
        ],
        "writer.confirmTimedOut": [
          {
            guard: and(["isInFlightBatch", "hasAhead"]),
            target: "promotingAhead",
            actions: ["clearTimedOut", "settleConfirmations"],
          },
          {
            guard: "isInFlightBatch",
            target: "checkingSkipped",
            actions: ["clearTimedOut", "settleConfirmations"],
          },
        ],
        // Every writer still awaited is late: marked slow, owing; the batch clears.
        "writer.confirmDeadline": [
          {
            guard: and(["isInFlightBatch", "hasAhead"]),
            target: "promotingAhead",
            actions: ["clearLate", "settleConfirmations"],
          },
          {
            guard: "isInFlightBatch",
            target: "checkingSkipped",
            actions: ["clearLate", "settleConfirmations"],
          },
        ],
        "disk.written": {
          guard: "isAheadBatch",
          actions: "recordAheadWritten",
        },
        "disk.failed": { target: "failing", actions: ["recordFailure", "settleConfirmations"] },
      },
    },
    promotingAhead: {
      description:
        "Pipelining: the batch written ahead becomes the in-flight one once the batch before it cleared; confirmed at once if its flush already finished.",
      meta: { claims: [1, 64], choice: true },
      always: [
        {
          guard: "aheadWritten",
          target: "confirming",
          actions: ["promoteAhead", "recordPromotedWritten"],
        },
        { target: "decidingAhead", actions: "promoteAhead" },
      ],
    },
    checkingSkipped: {
      description: "Claim 64: were any requests skipped or stored in temporary storage?",
      meta: { claims: [64, 65, 66], choice: true },
      always: [
        { guard: "hasSkipped", target: "notifyingSkipped", actions: "takeSkippedForResend" },
        { guard: "hasParked", target: "takingParked" },
        { guard: "hasGathered", target: "decidingFlush", actions: "redecide" },
        { guard: "isClosing", target: "closed" },
        { target: "receiving" },
      ],
    },
    notifyingSkipped: {
      description:
        "Claim 66: a skipped request's writer is told to resend it now that the batch cleared.",
      meta: { claims: [66] },
      entry: "askResend",
      on: {
        "sync.requests": { actions: "parkRequests" },
        "courier.resent": { target: "checkingSkipped", actions: "resent" },
      },
    },
    takingParked: {
      description:
        "Claims 16, 65, 69: stored requests start the new batch, then the flush decision.",
      meta: { claims: [16, 65, 69], choice: true },
      always: { target: "decidingFlush", actions: "takeParked" },
    },
    failing: {
      description: "A map, write or flush failed: every request held gets the error.",
      meta: { claims: [], choice: true },
      entry: "rejectHeld",
      always: [{ guard: "isClosing", target: "closed" }, { target: "broken" }],
    },
    broken: {
      description: "The spool takes no more writes until it is reopened; only a close comes here.",
      meta: { claims: [] },
      on: { "sync.close": { target: "closed", actions: "markClosing" } },
    },
    closed: { type: "final", description: "Closed: everything received was written or failed." },
  },
});

/** A snapshot of the synchronizer machine. */
export type SynchronizerSnapshot = SnapshotFrom<typeof synchronizerMachine>;

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

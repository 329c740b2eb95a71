/**
 * The writer, following claim 34: acquire the shared lock → send the request → get the receipt
 * → release the lock → await the write confirmation → send the confirmation of confirmation.
 *
 * One writer actor runs per thread or process (claim 34's "first thread or process"); the
 * writer handles on that thread hand it their appends, and it carries everything appended in
 * one microtask through the lock as one request group. So its events count per group and per
 * batch, not per message. A `fromTransition` actor, pure: its effects are emitted events that
 * the {@link SenderRuntime} carries out.
 */
import type { BatchId } from "@spool/core";
import { type ActorSystem, fromTransition } from "xstate";

/** Where the writer is in claim 34's sequence for the group at the head of its queue. */
export type WriterPhase = "idle" | "acquiring" | "sending" | "closed";

/** The writer's state: its phase plus counts, never the payloads. */
export interface WriterState {
  readonly phase: WriterPhase;
  /** Request groups waiting for the lock, behind the one in flight through it. */
  readonly groupsWaitingForLock: number;
  /** Requests received by the synchronizer, not yet confirmed written (or failed). */
  readonly awaitingWrite: number;
}

/** Events the writer takes. @example { type: "writer.append" } */
export type WriterEvent =
  | { readonly type: "writer.append" }
  | { readonly type: "lock.granted" }
  | { readonly type: "sync.receipt"; readonly count: number }
  | { readonly type: "sync.written"; readonly batchId: BatchId; readonly count: number }
  | { readonly type: "sync.resend"; readonly count: number }
  | { readonly type: "sync.failed"; readonly count: number }
  | { readonly type: "writer.close" };

/** Effects the writer asks its runtime to carry out. @example { type: "lock.acquire" } */
export type WriterEmitted =
  | { readonly type: "lock.acquire" }
  | { readonly type: "sync.request" }
  | { readonly type: "lock.release" }
  | { readonly type: "writer.confirmed"; readonly batchId: BatchId };

/** A writer before its first request. @example createActor(writerLogic) */
export const INITIAL_WRITER_STATE: WriterState = {
  phase: "idle",
  groupsWaitingForLock: 0,
  awaitingWrite: 0,
};

function expectPhase(state: WriterState, phase: WriterPhase, event: WriterEvent): void {
  if (state.phase !== phase) throw new Error(`writer got ${event.type} while ${state.phase}`);
}

function queueGroup(
  state: WriterState,
  awaitingWrite: number,
  emit: (e: WriterEmitted) => void,
): WriterState {
  if (state.phase !== "idle") {
    return { ...state, awaitingWrite, groupsWaitingForLock: state.groupsWaitingForLock + 1 };
  }
  emit({ type: "lock.acquire" });
  return { phase: "acquiring", groupsWaitingForLock: state.groupsWaitingForLock, awaitingWrite };
}

/**
 * The writer's transition function.
 *
 * @example
 * const actor = createActor(writerLogic).start();
 * actor.send({ type: "writer.append" });
 */
export const writerLogic = fromTransition<
  WriterState,
  WriterEvent,
  ActorSystem<never>,
  undefined,
  WriterEmitted
>((state, event, { emit }) => {
  switch (event.type) {
    case "writer.append":
      if (state.phase === "closed") throw new Error("append on a closed writer");
      return queueGroup(state, state.awaitingWrite, emit);
    case "lock.granted":
      expectPhase(state, "acquiring", event);
      emit({ type: "sync.request" });
      return { ...state, phase: "sending" };
    case "sync.receipt": {
      // Claim 34: the receipt releases the lock; the next waiting group asks for it again.
      expectPhase(state, "sending", event);
      emit({ type: "lock.release" });
      const awaitingWrite = state.awaitingWrite + event.count;
      if (state.groupsWaitingForLock === 0) return { ...state, phase: "idle", awaitingWrite };
      emit({ type: "lock.acquire" });
      return {
        phase: "acquiring",
        groupsWaitingForLock: state.groupsWaitingForLock - 1,
        awaitingWrite,
      };
    }
    case "sync.written":
      if (event.count > state.awaitingWrite) throw new Error("more confirmations than requests");
      emit({ type: "writer.confirmed", batchId: event.batchId });
      return { ...state, awaitingWrite: state.awaitingWrite - event.count };
    case "sync.resend":
      // Skipped requests go back through the lock as one group, ahead of newer groups.
      if (event.count > state.awaitingWrite) throw new Error("more resends than requests");
      return queueGroup(state, state.awaitingWrite - event.count, emit);
    case "sync.failed":
      if (event.count > state.awaitingWrite) throw new Error("more failures than requests");
      return { ...state, awaitingWrite: state.awaitingWrite - event.count };
    case "writer.close":
      return { ...state, phase: "closed" };
  }
}, INITIAL_WRITER_STATE);

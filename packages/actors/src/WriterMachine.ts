/**
 * The writer, following claim 34: acquire the shared lock → send the request → get the receipt
 * → release the lock → await the write confirmation → send the confirmation of confirmation.
 *
 * One writer actor runs per thread or process (claim 34's "first thread or process"); the
 * writer handles on that thread hand it their appends, and it carries everything appended in
 * one microtask through the lock as one request group. So its events count per group and per
 * batch, not per message.
 *
 * Like the synchronizer, the machine is data: {@link WRITER_STATES} lists every phase, the
 * events it takes and the phases each may lead to; the transition function checks every step
 * against the table, so diagrams and model-based tests read what the code does. An event a
 * phase does not list is a protocol violation (a receipt nobody asked for) and fails the actor.
 * A `fromTransition` actor, pure: its effects are emitted events that the {@link SenderRuntime}
 * carries out.
 */
import type { BatchId } from "@spool/core";
import type { ActorSystem } from "xstate";
import { transitionLogic } from "./internal/TransitionLogic.js";

/** Where the writer is in claim 34's sequence for the group at the head of its queue. @example "sending" */
export type WriterPhase = "idle" | "acquiring" | "sending";

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
  | { readonly type: "sync.failed"; readonly count: number };

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

type EventOf<T extends WriterEvent["type"]> = Extract<WriterEvent, { type: T }>;
type Emit = (effect: WriterEmitted) => void;

/** One transition: the phases it may lead to and the function that takes it. @example WRITER_STATES.sending["sync.receipt"]?.targets // ["idle", "acquiring"] */
export interface WriterTransition<E extends WriterEvent> {
  readonly targets: readonly WriterPhase[];
  readonly run: (state: WriterState, event: E, emit: Emit) => WriterState;
}

type WriterStateTable = {
  readonly [T in WriterEvent["type"]]?: WriterTransition<EventOf<T>>;
};

// A new request group: it asks for the lock when none is in flight, else it queues.
function queueGroup(state: WriterState, awaitingWrite: number, emit: Emit): WriterState {
  if (state.phase !== "idle") {
    return { ...state, awaitingWrite, groupsWaitingForLock: state.groupsWaitingForLock + 1 };
  }
  emit({ type: "lock.acquire" });
  return { phase: "acquiring", groupsWaitingForLock: state.groupsWaitingForLock, awaitingWrite };
}

function checkPositive(count: number, what: string): void {
  if (!Number.isInteger(count) || count < 1) throw new Error(`${what}: bad count ${count}`);
}

function checkCount(count: number, held: number, what: string): void {
  checkPositive(count, what);
  if (count > held) throw new Error(`${what}: ${count} for ${held} requests awaiting a write`);
}

// Events every phase takes: a new append, and the synchronizer's answers about requests it
// received. Only what queues a group (an append, a resend) moves an idle writer.
function anyPhase(phase: WriterPhase): WriterStateTable {
  const queued: WriterPhase = phase === "idle" ? "acquiring" : phase;
  return {
    "writer.append": {
      targets: [queued],
      run: (state, _event, emit) => queueGroup(state, state.awaitingWrite, emit),
    },
    // Claim 34: the write confirmation is answered with the confirmation of confirmation.
    "sync.written": {
      targets: [phase],
      run: (state, event, emit) => {
        checkCount(event.count, state.awaitingWrite, "sync.written");
        emit({ type: "writer.confirmed", batchId: event.batchId });
        return { ...state, awaitingWrite: state.awaitingWrite - event.count };
      },
    },
    // Claim 66: skipped requests go back through the lock as one group, ahead of newer groups.
    "sync.resend": {
      targets: [queued],
      run: (state, event, emit) => {
        checkCount(event.count, state.awaitingWrite, "sync.resend");
        return queueGroup(state, state.awaitingWrite - event.count, emit);
      },
    },
    "sync.failed": {
      targets: [phase],
      run: (state, event) => {
        checkCount(event.count, state.awaitingWrite, "sync.failed");
        return { ...state, awaitingWrite: state.awaitingWrite - event.count };
      },
    },
  };
}

/**
 * Every phase, the events it takes, and where each may lead.
 *
 * @example
 * Object.keys(WRITER_STATES.idle) // ["writer.append", "sync.written", "sync.resend", "sync.failed"]
 */
export const WRITER_STATES: { readonly [P in WriterPhase]: WriterStateTable } = {
  // Nothing in flight through the lock: a new group asks for it.
  idle: anyPhase("idle"),
  // Claim 34: waiting for the shared mutual-exclusion lock.
  acquiring: {
    ...anyPhase("acquiring"),
    "lock.granted": {
      targets: ["sending"],
      run: (state, _event, emit) => {
        emit({ type: "sync.request" });
        return { ...state, phase: "sending" };
      },
    },
  },
  // Claim 34: the request is sent; the receipt releases the lock.
  sending: {
    ...anyPhase("sending"),
    "sync.receipt": {
      targets: ["idle", "acquiring"],
      run: (state, event, emit) => {
        checkPositive(event.count, "sync.receipt");
        emit({ type: "lock.release" });
        const awaitingWrite = state.awaitingWrite + event.count;
        if (state.groupsWaitingForLock === 0) return { ...state, phase: "idle", awaitingWrite };
        // The next waiting group asks for the lock again, behind any other writer waiting.
        emit({ type: "lock.acquire" });
        return {
          phase: "acquiring",
          groupsWaitingForLock: state.groupsWaitingForLock - 1,
          awaitingWrite,
        };
      },
    },
  },
};

/**
 * Takes one event: runs the transition its phase lists for it and checks the phase it leads
 * to against the table. Throws on an event the phase does not take. Pure apart from `emit`.
 *
 * @example
 * const next = writerTransition(INITIAL_WRITER_STATE, { type: "writer.append" }, emit);
 */
export function writerTransition(state: WriterState, event: WriterEvent, emit: Emit): WriterState {
  const table = WRITER_STATES[state.phase] as Record<
    string,
    WriterTransition<WriterEvent> | undefined
  >;
  const transition = table[event.type];
  if (transition === undefined) throw new Error(`writer got ${event.type} while ${state.phase}`);
  const next = transition.run(state, event, emit);
  if (!transition.targets.includes(next.phase)) {
    throw new Error(`writer: ${state.phase} on ${event.type} may not lead to ${next.phase}`);
  }
  return next;
}

/**
 * The writer actor logic.
 *
 * @example
 * const actor = createActor(writerLogic).start();
 * actor.send({ type: "writer.append" });
 */
export const writerLogic = transitionLogic<
  WriterState,
  WriterEvent,
  ActorSystem<never>,
  undefined,
  WriterEmitted
>((state, event, { emit }) => writerTransition(state, event, emit), INITIAL_WRITER_STATE);

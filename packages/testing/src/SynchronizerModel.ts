/**
 * The synchronizer's test model: the actions the outside world can take on it (a writer sends
 * requests, the disk finishes or fails, a writer confirms, a timer fires), a model logic that
 * turns each action into the machine's concrete event and takes it with the real
 * {@link synchronizerMachine}'s own transition (xstate's, with the services stubbed), and an
 * abstraction of its state small enough to traverse. The variants and the stubbed machine are
 * in SynchronizerModelMachine.ts; the path sets `xstate/graph` generates from the model, and
 * the contract each action must keep, in SynchronizerPaths.ts. The steps an action takes are
 * read from xstate's microstep inspection events.
 *
 * Actions are symbolic ("confirm one writer", "the wake timer fires") and become events against
 * the state they are taken in, so a path replays validly from the start whichever concrete
 * state the traversal first met for an abstract one.
 */

import {
  type SynchronizerContext,
  type SynchronizerEvent,
  type SynchronizerSnapshot,
  type SynchronizerStats,
  synchronizerMachine,
} from "@spool/actors";
import {
  type BatchId,
  FlushFailed,
  type RequestId,
  type SpoolConfig,
  StorageFailed,
  type WriteRequest,
  type WriterId,
  writerId,
} from "@spool/core";
import { type ActorSystem, fromTransition } from "xstate";
import { type DeclaredStep, stepOf } from "./MachineSteps.js";
import { modelMachine, ROLLING_SEGMENT_BYTE_SIZE } from "./SynchronizerModelMachine.js";

export type { DeclaredStep };

/** The request shapes a model writer sends. */
export type RequestKind = "small" | "big" | "async";

/** What the outside world can do to the synchronizer. @example { type: "disk.done" } */
export type SynchronizerAction =
  | { readonly type: "send"; readonly kinds: readonly RequestKind[] }
  | { readonly type: "close" }
  | { readonly type: "wake" }
  | { readonly type: "disk.submit" }
  | { readonly type: "disk.done" }
  | { readonly type: "disk.fail" }
  // Pipelining: the batch written beside the in-flight one.
  | { readonly type: "disk.done.ahead" }
  | { readonly type: "disk.fail.ahead" }
  | { readonly type: "confirm"; readonly writers: "one" | "all" }
  | { readonly type: "confirm.timeout" }
  | { readonly type: "confirm.timeout.late" }
  // Issue 17, finding 10: the batch's confirmation deadline passes (the late writers are marked
  // slow); an earlier batch's deadline whose cancel came too late; the first slow writer's
  // oldest owed confirmation comes, or lapses at confirmTimeoutMs.
  | { readonly type: "confirm.deadline" }
  | { readonly type: "confirm.deadline.late" }
  | { readonly type: "confirm.late" }
  | { readonly type: "confirm.lapse" }
  // Carried out by the runtime by itself, never by the test: the resend of skipped requests by
  // in-process writers, and the notice that the resends went out.
  | { readonly type: "resend.arrives" }
  | { readonly type: "courier.resent" }
  // The report that a batch whose writers are all slow awaits no confirmation.
  | { readonly type: "confirm.none" };

/** Actions the runtime takes by itself after the previous one. @example AUTOMATIC_ACTIONS.has("courier.resent") */
export const AUTOMATIC_ACTIONS: ReadonlySet<SynchronizerAction["type"]> = new Set([
  "resend.arrives",
  "courier.resent",
  "confirm.none",
]);

/**
 * What the synchronizer writes to: a disk (a `FlushAdapter`: its map, write and flush each wait
 * for the disk) or a replicated log (a `LogAdapter`). A log has no region to map (the runtime's
 * `LogWriter.map` resolves at once, in the turn that asked, so nothing can reach the machine
 * while it maps) and acknowledges every batch replicated (it holds no async writes).
 */
export type ModelStore = "disk" | "log";

/** The model's state: the machine's snapshot, the next request id to hand out, the store. */
export interface SynchronizerModelState {
  readonly snapshot: SynchronizerSnapshot;
  readonly nextRequestId: number;
  readonly store: ModelStore;
}

/** The two model writers (claim 34's "first" and another), by sender id. */
export const MODEL_WRITERS = [writerId(1), writerId(2)] as const;

/** Payload sizes: a small record, and one big enough that two of them never share a page. */
const PAYLOAD_BYTE_SIZES: Readonly<Record<RequestKind, number>> = {
  small: 100,
  big: 3000,
  async: 100,
};

const PAYLOADS = new Map<RequestKind, Uint8Array>(
  (Object.keys(PAYLOAD_BYTE_SIZES) as RequestKind[]).map((kind) => [
    kind,
    new Uint8Array(PAYLOAD_BYTE_SIZES[kind]).fill(kind.charCodeAt(0)),
  ]),
);

/** The model's first state for a config: an empty spool at segment 1, time 0. */
export function initialModelState(
  config: SpoolConfig,
  machine: typeof synchronizerMachine = synchronizerMachine,
  store: ModelStore = "disk",
): SynchronizerModelState {
  // The model actor is never started: its snapshot is the machine's initial one.
  const snapshot = modelMachine(config, machine).scope.scope.self.getSnapshot();
  return { snapshot: snapshot as SynchronizerSnapshot, nextRequestId: 1, store };
}

/**
 * Whether the runtime takes `action` by itself in `state`, never the test: the automatic
 * actions, and on a log the map's completion (there is no region to map, so it never waits).
 *
 * @example
 * isAutomatic(state, { type: "courier.resent" }) // true
 */
export function isAutomatic(state: SynchronizerModelState, action: SynchronizerAction): boolean {
  if (AUTOMATIC_ACTIONS.has(action.type)) return true;
  const mapping = phaseOf(state.snapshot) === "mapping";
  return state.store === "log" && mapping && action.type === "disk.done";
}

const IO_ERROR = {
  map: new StorageFailed({ operation: "map", file: "model", code: "EIO", cause: undefined }),
  flush: new FlushFailed({ file: "model", offset: 0, byteSize: 0, code: "EIO", cause: undefined }),
};

/** An event the model's machine takes: its own, or xstate's for its invoked actor and delay. */
export type ModelEvent =
  | SynchronizerEvent
  | { readonly type: "xstate.done.actor.map"; readonly output: undefined; readonly actorId: "map" }
  | { readonly type: "xstate.error.actor.map"; readonly error: unknown; readonly actorId: "map" }
  | { readonly type: typeof WAKE_EVENT };

/** The event xstate raises when `waitingForTrigger`'s delay ends. */
export const WAKE_EVENT = "xstate.after.nextTrigger.synchronizer.waitingForTrigger";

/** The phase a snapshot rests in. @example phaseOf(snapshot) // "writing" */
export function phaseOf(snapshot: SynchronizerSnapshot): string {
  return snapshot.value as string;
}

/**
 * The machine event an action is, in the state it is taken in, and the model state after the
 * request ids it used.
 *
 * @example
 * const { event } = concretize(state, { type: "confirm", writers: "all" });
 */
export function concretize(
  state: SynchronizerModelState,
  action: SynchronizerAction,
): { readonly event: ModelEvent; readonly nextRequestId: number } {
  const { context } = state.snapshot;
  const phase = phaseOf(state.snapshot);
  const now = context.nowMs;
  const inFlightId = (context.inFlight?.batch.id ?? 0) as BatchId;
  const aheadId = (context.ahead?.batch.id ?? 0) as BatchId;
  const plain = (event: ModelEvent) => ({ event, nextRequestId: state.nextRequestId });
  switch (action.type) {
    case "send": {
      let id = state.nextRequestId;
      const requests = action.kinds.map((kind, at): WriteRequest => {
        const sender = MODEL_WRITERS[at % MODEL_WRITERS.length]!;
        return {
          id: id++ as RequestId,
          writerId: sender,
          senderId: sender,
          payload: PAYLOADS.get(kind)!,
          durability: kind === "async" ? "async" : "flushed",
          target: undefined,
        };
      });
      return { event: { type: "sync.requests", requests, atMs: now }, nextRequestId: id };
    }
    case "close":
      return plain({ type: "sync.close", atMs: now });
    case "wake":
      return plain({ type: WAKE_EVENT });
    case "disk.submit":
      return plain({ type: "disk.submitted", batchId: inFlightId });
    case "disk.done": {
      if (phase === "mapping") {
        return plain({ type: "xstate.done.actor.map", output: undefined, actorId: "map" });
      }
      // A log acknowledges an async batch replicated, as any other.
      const async = state.store === "disk" && context.inFlight?.batch.durability === "async";
      const outcome = { level: async ? ("async" as const) : ("flushed" as const) };
      return plain({ type: "disk.written", batchId: inFlightId, outcome });
    }
    case "disk.fail":
      return plain(
        phase === "mapping"
          ? { type: "xstate.error.actor.map", error: IO_ERROR.map, actorId: "map" }
          : { type: "disk.failed", batchId: inFlightId, error: IO_ERROR.flush },
      );
    case "disk.done.ahead":
      return plain({ type: "disk.written", batchId: aheadId, outcome: { level: "flushed" } });
    case "disk.fail.ahead":
      return plain({ type: "disk.failed", batchId: aheadId, error: IO_ERROR.flush });
    case "confirm":
      return plain({
        type: "writer.confirmed",
        batchId: inFlightId,
        confirmed: action.writers === "one" ? 1 : context.confirmationsPending,
        vanished: 0,
      });
    case "confirm.timeout":
      return plain({ type: "writer.confirmTimedOut", batchId: inFlightId });
    case "confirm.timeout.late":
      // The timer of an earlier batch whose cancel came too late.
      return plain({ type: "writer.confirmTimedOut", batchId: (inFlightId - 1) as BatchId });
    case "confirm.deadline":
      return plain({
        type: "writer.confirmDeadline",
        batchId: inFlightId,
        late: lateWriters(context),
      });
    case "confirm.deadline.late":
      return plain({
        type: "writer.confirmDeadline",
        batchId: (inFlightId - 1) as BatchId,
        late: [],
      });
    case "confirm.none":
      return plain({ type: "writer.confirmed", batchId: inFlightId, confirmed: 0, vanished: 0 });
    case "confirm.late":
    case "confirm.lapse": {
      const writerId = context.slowWriters[0]!.writerId;
      const confirmed = action.type === "confirm.late" ? 1 : 0;
      return plain({ type: "writer.lateConfirmed", writerId, confirmed, lapsed: 1 - confirmed });
    }
    case "resend.arrives":
      return plain({ type: "sync.requests", requests: context.admission.resending, atMs: now });
    case "courier.resent":
      return plain({ type: "courier.resent", count: context.admission.resending.length });
  }
}

/**
 * The in-flight batch's writers the machine waits for, in the order their write confirmations
 * went out (first appearance in the batch).
 *
 * @example
 * awaitedWriterIds(context) // [writerId(1), writerId(2)]
 */
export function awaitedWriterIds(context: SynchronizerContext): WriterId[] {
  const writers = new Set<WriterId>();
  for (const write of context.inFlight?.batch.writes ?? []) writers.add(write.request.senderId);
  const slow = new Set(context.slowWriters.map((writer) => writer.writerId));
  return [...writers].filter((writer) => !slow.has(writer));
}

/** The awaited writers still pending: the harness's writers confirm oldest first. */
function lateWriters(context: SynchronizerContext): WriterId[] {
  const awaited = awaitedWriterIds(context);
  return awaited.slice(awaited.length - context.confirmationsPending);
}

const SENDS: readonly SynchronizerAction[] = [
  { type: "send", kinds: ["small"] },
  { type: "send", kinds: ["small", "small"] },
  { type: "send", kinds: ["big"] },
  { type: "send", kinds: ["async"] },
];

/** Whether the skipped requests told to resend are already back (in-process writers resend at once). */
function resendArrived(context: SynchronizerContext): boolean {
  const parked = new Set(context.admission.storage.requests.map((request) => request.id));
  return context.admission.resending.every((request) => parked.has(request.id));
}

/**
 * The actions possible in a state: what a writer, the disk or a timer could do there, as the
 * runtime lets them happen.
 */
export function possibleActions(state: SynchronizerModelState): readonly SynchronizerAction[] {
  const { context } = state.snapshot;
  const phase = phaseOf(state.snapshot);
  const closeUnlessClosing: SynchronizerAction[] = context.closing ? [] : [{ type: "close" }];
  // Writers send while the spool takes writes; the runtime refuses them at receipt once closed.
  const sends = [...(context.closing ? [] : SENDS), ...owed(context, phase)];
  switch (phase) {
    case "receiving":
    case "waitingForRequest":
      return [...sends, ...closeUnlessClosing];
    case "waitingForTrigger":
      return [...sends, ...closeUnlessClosing, { type: "wake" }];
    case "mapping":
      // A log's map resolves in the turn that asked: it cannot fail, nor be overtaken.
      if (state.store === "log") return [{ type: "disk.done" }];
      return [...sends, ...closeUnlessClosing, { type: "disk.done" }, { type: "disk.fail" }];
    case "writing":
    case "writingAhead": {
      // The write call returns (the bytes are handed over), then the flush finishes. The
      // machine hears of the first only when it asked (a batch waits to go beside this one);
      // otherwise the disk's next word is the flush finished.
      const inFlight = context.inFlight;
      const head: SynchronizerAction =
        inFlight?.submissionAsked && !inFlight.submitted
          ? { type: "disk.submit" }
          : { type: "disk.done" };
      return [...sends, ...closeUnlessClosing, head, { type: "disk.fail" }, ...aheadDisk(context)];
    }
    case "confirming": {
      const confirms: SynchronizerAction[] = [{ type: "confirm", writers: "one" }];
      if (context.confirmationsPending > 1) confirms.push({ type: "confirm", writers: "all" });
      const timeouts: SynchronizerAction[] = [
        { type: "confirm.timeout" },
        { type: "confirm.timeout.late" },
        { type: "confirm.deadline" },
        { type: "confirm.deadline.late" },
      ];
      // A batch whose writers are all slow awaits nobody: the runtime clears it at once.
      if (context.confirmationsPending === 0) return [{ type: "confirm.none" }];
      const failure: SynchronizerAction[] =
        context.ahead !== null && context.ahead.written === null
          ? [{ type: "disk.fail.ahead" }]
          : [];
      return [
        ...sends,
        ...closeUnlessClosing,
        ...confirms,
        ...timeouts,
        ...aheadDisk(context),
        ...failure,
      ];
    }
    case "notifyingSkipped":
      return resendArrived(context) ? [{ type: "courier.resent" }] : [{ type: "resend.arrives" }];
    case "broken":
      // The runtime refuses writes at receipt once broken: only a close, and the confirmations
      // slow writers owe (their book keeps settling them), reach the machine.
      return [...closeUnlessClosing, ...owed(context, phase)];
    default:
      return [];
  }
}

/**
 * What the slow writers can do: send an owed confirmation, or let it lapse. The machine takes
 * both alike (one transition, taken in every state), so a lapse is tried only where the machine
 * rests longest, which keeps the paths to run few.
 */
function owed(context: SynchronizerContext, phase: string): SynchronizerAction[] {
  if (context.slowWriters.length === 0) return [];
  const lapses = phase === "receiving" || phase === "confirming";
  return lapses
    ? [{ type: "confirm.late" }, { type: "confirm.lapse" }]
    : [{ type: "confirm.late" }];
}

/**
 * What the disk can do to a batch written ahead: finish its flush (the machine never asks when
 * its bytes are handed over: nothing goes beside it until it is the in-flight batch).
 */
function aheadDisk(context: SynchronizerContext): SynchronizerAction[] {
  const { ahead } = context;
  if (ahead === null || ahead.written !== null) return [];
  return [{ type: "disk.done.ahead" }];
}

/** What one action did: the state after, the event, the steps taken, actions run, counters. */
export interface ActionTaken {
  readonly next: SynchronizerModelState;
  readonly event: ModelEvent;
  readonly steps: readonly DeclaredStep[];
  /** The types of the actions the transition executed, built-in ones included. */
  readonly actions: readonly string[];
  readonly countersBefore: SynchronizerStats;
  readonly countersAfter: SynchronizerStats;
}

/**
 * Takes one action with the machine's own transition, as xstate takes it in a running actor.
 *
 * @example
 * const { next, steps } = takeAction(state, { type: "close" });
 */
export function takeAction(
  state: SynchronizerModelState,
  action: SynchronizerAction,
  machine: typeof synchronizerMachine = synchronizerMachine,
): ActionTaken {
  const { event, nextRequestId } = concretize(state, action);
  const { scope } = modelMachine(state.snapshot.context.config, machine);
  const counters = state.snapshot.context.services.counters;
  const countersBefore = counters.read();
  scope.run = { transitions: [], actions: [] };
  const next = machine.transition(state.snapshot, event as SynchronizerEvent, scope.scope);
  const { transitions, actions } = scope.run;
  return {
    next: { snapshot: next, nextRequestId, store: state.store },
    event,
    steps: transitions.map(stepOf),
    actions,
    countersBefore,
    countersAfter: counters.read(),
  };
}

/**
 * The model as actor logic for `xstate/graph`: its events are actions.
 *
 * @example
 * getShortestPaths(synchronizerModelLogic(config), { events: modelEvents, serializeState });
 */
export function synchronizerModelLogic(
  config: SpoolConfig,
  machine: typeof synchronizerMachine = synchronizerMachine,
  store: ModelStore = "disk",
) {
  return fromTransition<SynchronizerModelState, SynchronizerAction, ActorSystem<never>, undefined>(
    (state, action) => takeAction(state, action, machine).next,
    initialModelState(config, machine, store),
  );
}

const atMost = (count: number, most: number) => Math.min(count, most);

/**
 * What a test compares between the model and the real runtime after each step: the phase and
 * every flag the machine decides on, with counts capped so the state space stays finite.
 *
 * @example
 * abstractState(actor.getSnapshot())
 */
export function abstractState(snapshot: SynchronizerSnapshot): string {
  const { context } = snapshot;
  const phase = phaseOf(snapshot);
  const { admission, inFlight, ahead, decision } = context;
  return JSON.stringify([
    phase,
    context.closing,
    context.failure !== null,
    atMost(admission.batch.writes.length, 3),
    admission.batch.writes.length > 0 ? admission.batch.durability : "-",
    admission.refusal,
    atMost(admission.storage.requests.length, 2),
    atMost(admission.skipped.length, 2),
    admission.resending.length > 0,
    inFlight === null ? "-" : inFlight.batch.durability,
    inFlight?.submitted ?? false,
    inFlight?.submissionAsked ?? false,
    ahead === null ? "-" : atMost(ahead.batch.writes.length, 3),
    ahead?.submitted ?? false,
    (ahead?.written ?? null) !== null,
    context.confirmationsPending,
    context.mapped.includes(admission.cursor.segment),
    context.unflushedFrom !== null,
    phase === "waitingForTrigger" && !decision.flush ? decision.wakeInMs : null,
    // How many writers are slow, not which nor how far behind: enough to tell a batch that
    // waits for nobody from one that waits, without multiplying the states to traverse.
    context.slowWriters.length,
    // With one-page segments (the rolling variant) how full the segment is, by the KiB: the
    // traversal must tell a segment about to roll from a fresh one to reach the roll.
    context.config.segmentByteSize <= ROLLING_SEGMENT_BYTE_SIZE
      ? Math.floor(admission.cursor.offset / 1024)
      : null,
  ]);
}

/**
 * The synchronizer's test model: the actions the outside world can take on it (a writer sends
 * requests, the disk finishes or fails, a writer confirms, a timer fires), a model logic that
 * turns each action into the machine's concrete event and takes it with the real
 * {@link synchronizerMachine}'s own transition (xstate's, with the services stubbed), an
 * abstraction of its state small enough to traverse, and the path sets that `xstate/graph`
 * generates from them. The steps a path takes are read from xstate's microstep inspection
 * events; the steps to cover from the machine's config (MachineSteps.ts).
 *
 * Actions are symbolic ("confirm one writer", "the wake timer fires") and become events against
 * the state they are taken in, so a path replays validly from the start whichever concrete
 * state the traversal first met for an abstract one.
 */

import {
  type SynchronizerContext,
  SynchronizerCounters,
  type SynchronizerEvent,
  type SynchronizerServices,
  type SynchronizerSnapshot,
  type SynchronizerStats,
  synchronizerMachine,
} from "@spool/actors";
import {
  type BatchId,
  byteOffset,
  FlushFailed,
  type RequestId,
  resolveConfig,
  type SpoolConfig,
  type SpoolOptions,
  StorageFailed,
  segmentNumber,
  seq,
  type WriteRequest,
  type WriterId,
  writerId,
} from "@spool/core";
import {
  type ActorSystem,
  type AnyActorScope,
  type AnyTransitionDefinition,
  createActor,
  fromTransition,
  type TransitionSnapshot,
} from "xstate";
import { getAdjacencyMap, getShortestPaths, getSimplePaths, type StatePath } from "xstate/graph";
import { type DeclaredStep, declaredSteps, stepOf } from "./MachineSteps.js";

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

/** The model's state: the machine's snapshot, and the next request id to hand out. */
export interface SynchronizerModelState {
  readonly snapshot: SynchronizerSnapshot;
  readonly nextRequestId: number;
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

/**
 * The configurations the model runs under: no single one reaches every state (a timed trigger
 * and "wait for a request" exclude each other), so coverage is their union. Small pages and
 * segments make page-span refusals and segment rolls happen within a few requests; one slot of
 * temporary storage makes the second request that arrives during a write a skipped one.
 */
export const MODEL_VARIANTS: Readonly<Record<string, SpoolOptions>> = {
  // Flush as soon as the intake is drained (the default idle trigger of 0 ms).
  immediate: {},
  // Timed triggers: wait up to 2 ms idle or 10 ms since the first request, or 3 requests.
  timed: { idleTimeMsMax: 2, gatherTimeMsMax: 10, batchCountMax: 3 },
  // No timed trigger: only 2 requests, a refusal or a close flush.
  untimed: { idleTimeMsMax: null, gatherTimeMsMax: null, sinceLastFlushMs: null, batchCountMax: 2 },
  // Pipelining: two small requests gathered while the disk is idle are written as two batches,
  // and a batch gathered while one flushes is written beside it.
  pipelined: { pipelineSplitByteSize: 200 },
  // One-page segments: a segment rolls (and the next is mapped) every few requests, so a
  // writer marked slow still owes confirmations while the next segment is mapped.
  rolling: { segmentByteSize: 4096, recordPayloadByteSizeMax: 3500 },
};

/** The rolling variant's segment size: one page. */
const ROLLING_SEGMENT_BYTE_SIZE = 4096;

/** The options every variant shares. */
const MODEL_BASE: SpoolOptions = {
  pageByteSize: 4096,
  segmentByteSize: 16384,
  recordPayloadByteSizeMax: 8192,
  maxPageSpan: 1,
  temporaryStorageCountMax: 1,
  confirmTimeoutMs: 1000,
  indexSegmentEntries: 64,
  // One batch on the disk at a time, unless a variant pipelines.
  pipelineSplitByteSize: null,
};

/** A variant's resolved config. @example modelConfig("timed").batchCountMax // 3 */
export function modelConfig(variant: string): SpoolConfig {
  const options = MODEL_VARIANTS[variant];
  if (options === undefined) throw new Error(`no model variant ${variant}`);
  // `resolveConfig` refuses a config with no timed trigger (nothing would flush a lone append),
  // but the machine still handles one: it waits for the next request. The untimed variant's
  // triggers are set after validation, so the model reaches those states.
  const { idleTimeMsMax, gatherTimeMsMax, sinceLastFlushMs, ...checked } = options;
  const timed = Object.fromEntries(
    Object.entries({ idleTimeMsMax, gatherTimeMsMax, sinceLastFlushMs }).filter(
      ([, value]) => value !== undefined,
    ),
  );
  return { ...resolveConfig({ ...MODEL_BASE, ...checked }), ...timed };
}

/** Where the model's machine reaches: nothing, but for counters of its own. */
function modelServices(): SynchronizerServices {
  const never = () => new Promise<never>(() => undefined);
  return {
    clock: () => 0,
    counters: new SynchronizerCounters(),
    map: never,
    write: never,
    confirm: () => () => undefined,
    resend: () => undefined,
    reject: () => undefined,
    fault: (where) => {
      throw new Error(`the model's machine faulted in ${where}`);
    },
  };
}

/**
 * What one model step ran: the transitions xstate took (from its microstep inspection events)
 * and the actions it executed, by type.
 */
interface StepRun {
  readonly transitions: AnyTransitionDefinition[];
  readonly actions: string[];
}

/**
 * A scope to run the machine's transitions in, as xstate's own `transition` does, except that
 * the machine's own actions run (against the stub services: counting, checks) and the
 * microsteps are recorded. xstate's built-in actions (delays, messages to the flusher and the
 * courier) do not run: the model has no clock and no children.
 */
class ModelScope {
  run: StepRun = { transitions: [], actions: [] };
  readonly scope: AnyActorScope;

  constructor(machine: typeof synchronizerMachine, input: unknown) {
    const self = createActor(machine, {
      input: input as never,
      inspect: (event) => {
        if (event.type === "@xstate.microstep") {
          this.run.transitions.push(
            ...(event as { _transitions: AnyTransitionDefinition[] })._transitions,
          );
        }
      },
    });
    this.scope = {
      self,
      defer: () => undefined,
      id: "",
      logger: () => undefined,
      sessionId: "",
      stopChild: () => undefined,
      system: self.system,
      emit: () => undefined,
      actionExecutor: (action: {
        type: string;
        info: unknown;
        params: unknown;
        exec?: (info: unknown, params: unknown) => void;
      }) => {
        this.run.actions.push(action.type);
        if (!action.type.startsWith("xstate.")) action.exec?.(action.info, action.params);
      },
    } as unknown as AnyActorScope;
  }
}

/** The model's machine, its scope and its counters, for one config. */
interface ModelMachine {
  readonly machine: typeof synchronizerMachine;
  readonly scope: ModelScope;
  readonly counters: SynchronizerCounters;
}

const MODEL_MACHINES = new WeakMap<SpoolConfig, Map<typeof synchronizerMachine, ModelMachine>>();

function modelMachine(
  config: SpoolConfig,
  machine: typeof synchronizerMachine = synchronizerMachine,
): ModelMachine {
  let byMachine = MODEL_MACHINES.get(config);
  if (byMachine === undefined) {
    byMachine = new Map();
    MODEL_MACHINES.set(config, byMachine);
  }
  let found = byMachine.get(machine);
  if (found === undefined) {
    const services = modelServices();
    const input = { config, cursor: MODEL_CURSOR, nowMs: 0, services };
    found = { machine, scope: new ModelScope(machine, input), counters: services.counters };
    byMachine.set(machine, found);
  }
  return found;
}

const MODEL_CURSOR = { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) };

/** The model's first state for a config: an empty spool at segment 1, time 0. */
export function initialModelState(
  config: SpoolConfig,
  machine: typeof synchronizerMachine = synchronizerMachine,
): SynchronizerModelState {
  // The model actor is never started: its snapshot is the machine's initial one.
  const snapshot = modelMachine(config, machine).scope.scope.self.getSnapshot();
  return { snapshot: snapshot as SynchronizerSnapshot, nextRequestId: 1 };
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
    case "disk.done":
      return plain(
        phase === "mapping"
          ? { type: "xstate.done.actor.map", output: undefined, actorId: "map" }
          : {
              type: "disk.written",
              batchId: inFlightId,
              outcome: {
                level: context.inFlight?.batch.durability === "async" ? "async" : "flushed",
              },
            },
      );
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
    next: { snapshot: next, nextRequestId },
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
) {
  return fromTransition<SynchronizerModelState, SynchronizerAction, ActorSystem<never>, undefined>(
    (state, action) => takeAction(state, action, machine).next,
    initialModelState(config, machine),
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

type ModelSnapshot = TransitionSnapshot<SynchronizerModelState>;

function actionKey(action: SynchronizerAction): string {
  return JSON.stringify(action);
}

function traversalOptions() {
  return {
    events: (snapshot: ModelSnapshot) => possibleActions(snapshot.context),
    serializeState: (snapshot: ModelSnapshot) => abstractState(snapshot.context.snapshot),
    serializeEvent: actionKey,
  };
}

/** A path to run: its variant and its actions from the start. */
export interface ModelPath {
  readonly variant: string;
  readonly kind: "state" | "transition" | "simple";
  readonly actions: readonly SynchronizerAction[];
}

function rawActions(path: StatePath<ModelSnapshot, SynchronizerAction>): SynchronizerAction[] {
  return path.steps.map((step) => step.event).filter((event) => !event.type.startsWith("xstate."));
}

/**
 * `actions`, followed by the automatic ones the runtime takes after the last (resends come back
 * and are reported in the same turn), so a path ends where the runtime rests.
 */
function completed(config: SpoolConfig, actions: SynchronizerAction[]): SynchronizerAction[] {
  let state = initialModelState(config);
  for (const action of actions) state = takeAction(state, action).next;
  for (;;) {
    const [next] = possibleActions(state);
    if (next === undefined || !AUTOMATIC_ACTIONS.has(next.type)) return actions;
    actions.push(next);
    state = takeAction(state, next).next;
  }
}

function actionsOf(
  config: SpoolConfig,
  path: StatePath<ModelSnapshot, SynchronizerAction>,
): SynchronizerAction[] {
  return completed(config, rawActions(path));
}

/** A shortest path to every abstract state of a variant. */
export function shortestStatePaths(variant: string): ModelPath[] {
  const config = modelConfig(variant);
  const logic = synchronizerModelLogic(config);
  return getShortestPaths(logic, traversalOptions()).map((path) => ({
    variant,
    kind: "state",
    actions: actionsOf(config, path as StatePath<ModelSnapshot, SynchronizerAction>),
  }));
}

/**
 * A path for every edge of the abstract graph: the shortest path to its source state, then the
 * edge's action. These cover every transition the traversal can reach.
 */
export function transitionPaths(variant: string): ModelPath[] {
  const config = modelConfig(variant);
  const logic = synchronizerModelLogic(config);
  const options = traversalOptions();
  const toState = new Map<string, SynchronizerAction[]>();
  for (const path of getShortestPaths(logic, options)) {
    const typed = path as StatePath<ModelSnapshot, SynchronizerAction>;
    toState.set(options.serializeState(typed.state), rawActions(typed));
  }
  const paths: ModelPath[] = [];
  const adjacency = getAdjacencyMap(logic, options);
  for (const [key, vertex] of Object.entries(adjacency)) {
    const prefix = toState.get(key);
    if (prefix === undefined) continue;
    for (const edge of Object.values(vertex.transitions)) {
      const { event } = edge as { event: SynchronizerAction };
      const actions = completed(config, [...prefix, event]);
      paths.push({ variant, kind: "transition", actions });
    }
  }
  return paths;
}

/**
 * Whether each action of a path is one the world offers where the model is: a path found over
 * the coarse abstraction may carry an action from another state of the same coarse class (a
 * flush finishing where the machine waits to hear of the bytes handed over first).
 */
function offeredAlong(config: SpoolConfig, actions: readonly SynchronizerAction[]): boolean {
  let state = initialModelState(config);
  for (const action of actions) {
    const wanted = JSON.stringify(action);
    if (!possibleActions(state).some((offered) => JSON.stringify(offered) === wanted)) {
      return false;
    }
    state = takeAction(state, action).next;
  }
  return true;
}

/**
 * Simple paths (no phase visited twice) from the start to `closed` or `broken`, over a coarse
 * abstraction (phase, closing, anything parked), the shortest `count` of them: simple paths over
 * the full abstraction number in the millions.
 */
export function simplePaths(variant: string, count: number): ModelPath[] {
  const config = modelConfig(variant);
  const logic = synchronizerModelLogic(config);
  const coarse = (snapshot: ModelSnapshot) => {
    const { closing, admission } = snapshot.context.snapshot.context;
    return `${phaseOf(snapshot.context.snapshot)}|${closing}|${admission.storage.requests.length > 0}`;
  };
  const paths = getSimplePaths(logic, {
    ...traversalOptions(),
    serializeState: coarse,
    toState: (snapshot: ModelSnapshot) =>
      ["closed", "broken"].includes(phaseOf(snapshot.context.snapshot)),
  });
  return paths
    .map((path) => actionsOf(config, path as StatePath<ModelSnapshot, SynchronizerAction>))
    .filter((actions) => offeredAlong(config, actions))
    .sort((left, right) => left.length - right.length)
    .slice(0, count)
    .map((actions) => ({ variant, kind: "simple", actions }));
}

/**
 * Every step the machine's config declares (`state --event--> target`, `choice --> target`
 * for the diamonds' `always`, `* --event--> *` for an event every state takes in place). The
 * suite fails unless paths cover all of them.
 *
 * @example
 * declaredSynchronizerSteps().has("writing --disk.written--> confirming") // true
 */
export function declaredSynchronizerSteps(
  machine: typeof synchronizerMachine = synchronizerMachine,
): ReadonlySet<DeclaredStep> {
  return declaredSteps(machine);
}

/** The declared steps a path takes, replayed on the model. */
export function pathSteps(path: ModelPath): Set<DeclaredStep> {
  const steps = new Set<DeclaredStep>();
  let state = initialModelState(modelConfig(path.variant));
  for (const action of path.actions) {
    const taken = takeAction(state, action);
    for (const step of taken.steps) steps.add(step);
    state = taken.next;
  }
  return steps;
}

/**
 * A small set of paths that still takes every declared step: for each step, the shortest
 * transition path (over all variants) that takes it, plus each variant's `simpleCount` shortest
 * simple paths. For adapters on real disks, where every path costs flushes.
 */
export function coveringPaths(simpleCount = 10): ModelPath[] {
  const candidates = Object.keys(MODEL_VARIANTS)
    .flatMap((variant) => transitionPaths(variant))
    .sort((left, right) => left.actions.length - right.actions.length);
  const chosen = new Set<ModelPath>();
  const covered = new Set<DeclaredStep>();
  for (const path of candidates) {
    const steps = pathSteps(path);
    if ([...steps].every((step) => covered.has(step))) continue;
    chosen.add(path);
    for (const step of steps) covered.add(step);
  }
  const simple = Object.keys(MODEL_VARIANTS).flatMap((variant) =>
    simplePaths(variant, simpleCount),
  );
  return [...chosen, ...simple];
}

/**
 * What each action must do, written from the claims rather than read from the machine, so a
 * machine that lost or bent a transition fails here even though model and runtime agree with
 * each other. Returns the broken rule, if any.
 *
 * @example
 * actionContract(before, { type: "confirm.timeout" }, taken) // undefined when the batch cleared
 */
export function actionContract(
  beforeState: SynchronizerModelState,
  action: SynchronizerAction,
  taken: ActionTaken,
): string | undefined {
  const before = beforeState.snapshot.context;
  const after = taken.next.snapshot.context;
  const was = phaseOf(beforeState.snapshot);
  const is = phaseOf(taken.next.snapshot);
  const counted = (read: (stats: SynchronizerStats) => number) =>
    read(taken.countersAfter) - read(taken.countersBefore);
  const cleared = before.inFlight !== null && after.inFlight?.batch.id !== before.inFlight.batch.id;
  const entersConfirming = taken.steps.some(
    (step) => step.endsWith("--> confirming") && !step.startsWith("confirming "),
  );
  // Claims 1, 34: writers hear of a write only from a completed write and flush.
  const wrote = (was === "writing" || was === "writingAhead") && action.type === "disk.done";
  const promoted = action.type === "confirm" || action.type.startsWith("confirm.");
  if (entersConfirming && !wrote && !(promoted && before.ahead?.written != null)) {
    return `entered confirming on ${action.type} from ${was}`;
  }
  if (entersConfirming && !taken.actions.includes("xstate.sendTo")) {
    return "entered confirming without sending the write confirmations";
  }
  if (after.closing !== (before.closing || action.type === "close"))
    return "lost or invented a close";
  switch (action.type) {
    case "send":
      if (was === "receiving" && is === "receiving") return "a request was not taken";
      return undefined;
    case "close":
      if (was === "receiving" && is !== "closed") return "an idle close did not close";
      // A close flushes what was gathered (claims 5-13: the close condition).
      if (before.admission.batch.writes.length > 0 && is.startsWith("waiting")) {
        return "a close left gathered requests waiting";
      }
      return undefined;
    case "wake":
      if (is === "waitingForTrigger" && !taken.actions.includes("xstate.raise")) {
        return "a timed trigger neither flushed nor waited again";
      }
      return undefined;
    case "disk.done":
      if (was === "mapping" && is !== "writing") return "mapped, then no write";
      if (was === "writing" && counted((stats) => stats.flushes) !== 1) {
        return "a completed write was not counted as a flush";
      }
      return undefined;
    case "disk.done.ahead":
      // A batch written ahead is confirmed only after the one before it cleared.
      if (is === "confirming" && after.inFlight?.batch.id !== before.inFlight?.batch.id) {
        return "a batch written ahead was confirmed before the one before it";
      }
      return undefined;
    case "disk.fail.ahead":
    case "disk.fail":
      if (after.failure === null || (is !== "broken" && is !== "closed")) {
        return "a failed write left the spool taking writes";
      }
      return taken.actions.includes("rejectHeld") ? undefined : "a failure rejected nobody";
    case "confirm":
      // Claim 1: the batch clears once every writer confirmed, not before.
      if (action.writers === "all" && !cleared) return "all writers confirmed, batch not cleared";
      if (cleared && before.confirmationsPending > (action.writers === "one" ? 1 : Infinity)) {
        return "the batch cleared before every writer confirmed";
      }
      return undefined;
    case "confirm.timeout":
      return cleared ? undefined : "a writer that timed out held the batch";
    case "confirm.deadline":
      // Issue 17, finding 10: a writer that missed the deadline holds nobody up.
      if (!cleared) return "a writer that missed its deadline held the batch";
      return after.slowWriters.length > 0 ? undefined : "a late writer was not marked slow";
    case "confirm.late":
    case "confirm.lapse":
      if (is !== was) return "an owed confirmation moved the machine";
      return counted((stats) => stats.confirmationsLate + stats.confirmationsFailed) > 0
        ? undefined
        : "an owed confirmation was not counted";
    case "courier.resent":
      return after.admission.resending.length === 0 ? undefined : "resends still outstanding";
    default:
      return undefined;
  }
}

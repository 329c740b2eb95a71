/**
 * The writer's test model and its runner: claim 34's writer, traversed with `xstate/graph` and
 * replayed against the real {@link SenderRuntime} with a scripted shared lock and a scripted
 * synchronizer. Checked throughout:
 *
 * - a request group is sent only while the writer holds the lock, and the receipt releases it;
 * - a skipped group is sent again before any newer group;
 * - an append resolves only after its write confirmation, with the seq it names, and a failed
 *   one rejects with the synchronizer's error;
 * - each write confirmation is answered with exactly one confirmation of confirmation.
 */
import {
  type BatchId,
  byteOffset,
  byteSize,
  type PlacedWrite,
  resolveConfig,
  SpoolClosed,
  SpoolFailed,
  segmentNumber,
  seq,
  type WriteRequest,
  type WriterId,
  writerId,
} from "@spool/core";
import { type ActorSystem, fromTransition, type TransitionSnapshot } from "xstate";
import { getAdjacencyMap, getShortestPaths, type StatePath } from "xstate/graph";
import type { SharedLock } from "../SharedLock.js";
import type { SynchronizerPort, WriterEndpoint } from "../Synchronizer.js";
import { type AppendResult, SenderRuntime } from "../Writer.js";
import {
  INITIAL_WRITER_STATE,
  WRITER_STATES,
  type WriterEvent,
  type WriterState,
  writerTransition,
} from "../WriterMachine.js";

/** What the outside world can do to a writer. @example { type: "append", count: 2 } */
export type WriterAction =
  | { readonly type: "append"; readonly count: 1 | 2 }
  | { readonly type: "grant" }
  | { readonly type: "receipt" }
  | { readonly type: "written"; readonly requests: "one" | "all" }
  | { readonly type: "resend"; readonly requests: "one" | "all" }
  | { readonly type: "failed"; readonly requests: "one" | "all" };

/** The model: the machine's state, plus the sizes of the groups it holds. */
export interface WriterModelState {
  readonly machine: WriterState;
  /** Sizes of the groups waiting for the lock, the next one first. */
  readonly waiting: readonly number[];
  /** Size of the group sent and not yet received, while the writer holds the lock. */
  readonly sending: number | null;
  readonly nextBatchId: number;
}

const INITIAL: WriterModelState = {
  machine: INITIAL_WRITER_STATE,
  waiting: [],
  sending: null,
  nextBatchId: 1,
};

// Bounds that keep the state space small and still reach every step: two groups waiting, four
// requests held by the synchronizer at most.
const GROUPS_WAITING_MAX = 2;
const REQUESTS_HELD_MAX = 4;

/** The machine event an action is, and the model's bookkeeping after it. */
export function writerEventOf(
  state: WriterModelState,
  action: WriterAction,
): { readonly event: WriterEvent; readonly next: Omit<WriterModelState, "machine"> } {
  const held = state.machine.awaitingWrite;
  const howMany = (which: "one" | "all") => (which === "one" ? 1 : held);
  const { waiting, sending, nextBatchId } = state;
  switch (action.type) {
    case "append":
      return {
        event: { type: "writer.append" },
        next: { waiting: [...waiting, action.count], sending, nextBatchId },
      };
    case "grant":
      return {
        event: { type: "lock.granted" },
        next: { waiting: waiting.slice(1), sending: waiting[0] ?? null, nextBatchId },
      };
    case "receipt":
      return {
        event: { type: "sync.receipt", count: sending ?? 0 },
        next: { waiting, sending: null, nextBatchId },
      };
    case "written":
      return {
        event: {
          type: "sync.written",
          batchId: nextBatchId as BatchId,
          count: howMany(action.requests),
        },
        next: { waiting, sending, nextBatchId: nextBatchId + 1 },
      };
    case "resend": {
      // The runtime puts the resent group ahead of every group still waiting.
      const count = howMany(action.requests);
      return {
        event: { type: "sync.resend", count },
        next: { waiting: [count, ...waiting], sending, nextBatchId },
      };
    }
    case "failed":
      return {
        event: { type: "sync.failed", count: howMany(action.requests) },
        next: { waiting, sending, nextBatchId },
      };
  }
}

/** The actions possible in a state. */
export function possibleWriterActions(state: WriterModelState): readonly WriterAction[] {
  const { machine } = state;
  const actions: WriterAction[] = [];
  const queued = state.waiting.reduce((sum, size) => sum + size, state.sending ?? 0);
  if (
    state.waiting.length < GROUPS_WAITING_MAX &&
    machine.awaitingWrite + queued < REQUESTS_HELD_MAX
  ) {
    actions.push({ type: "append", count: 1 }, { type: "append", count: 2 });
  }
  if (machine.phase === "acquiring") actions.push({ type: "grant" });
  if (machine.phase === "sending") actions.push({ type: "receipt" });
  if (machine.awaitingWrite > 0) {
    for (const type of ["written", "resend", "failed"] as const) {
      actions.push({ type, requests: "one" });
      if (machine.awaitingWrite > 1) actions.push({ type, requests: "all" });
    }
  }
  return actions;
}

/** Takes one action with the writer's own transition function. */
export function takeWriterAction(
  state: WriterModelState,
  action: WriterAction,
): { readonly next: WriterModelState; readonly event: WriterEvent } {
  const { event, next } = writerEventOf(state, action);
  const machine = writerTransition(state.machine, event, () => {});
  return { next: { ...next, machine }, event };
}

type WriterSnapshot = TransitionSnapshot<WriterModelState>;

const writerModelLogic = fromTransition<
  WriterModelState,
  WriterAction,
  ActorSystem<never>,
  undefined
>((state, action) => takeWriterAction(state, action).next, INITIAL);

const writerTraversal = {
  events: (snapshot: WriterSnapshot) => possibleWriterActions(snapshot.context),
  // The batch counter only names batches: it is left out, or the space would be infinite.
  serializeState: ({ context }: WriterSnapshot) =>
    JSON.stringify([context.machine, context.waiting, context.sending]),
  serializeEvent: (action: WriterAction) => JSON.stringify(action),
};

function actionsOf(path: StatePath<WriterSnapshot, WriterAction>): WriterAction[] {
  return path.steps.map((step) => step.event).filter((event) => !event.type.startsWith("xstate."));
}

/** A shortest path to every model state. */
export function writerStatePaths(): WriterAction[][] {
  return getShortestPaths(writerModelLogic, writerTraversal).map((path) =>
    actionsOf(path as StatePath<WriterSnapshot, WriterAction>),
  );
}

/** A path for every edge of the model graph: the shortest path to its source, then the edge. */
export function writerTransitionPaths(): WriterAction[][] {
  const toState = new Map<string, WriterAction[]>();
  for (const path of getShortestPaths(writerModelLogic, writerTraversal)) {
    const typed = path as StatePath<WriterSnapshot, WriterAction>;
    toState.set(writerTraversal.serializeState(typed.state), actionsOf(typed));
  }
  const paths: WriterAction[][] = [];
  for (const [key, vertex] of Object.entries(getAdjacencyMap(writerModelLogic, writerTraversal))) {
    const prefix = toState.get(key);
    if (prefix === undefined) continue;
    for (const edge of Object.values(vertex.transitions)) {
      paths.push([...prefix, (edge as { event: WriterAction }).event]);
    }
  }
  return paths;
}

/** Every step {@link WRITER_STATES} declares, as `phase --event--> target`. */
export function declaredWriterSteps(): ReadonlySet<string> {
  const steps = new Set<string>();
  for (const [phase, table] of Object.entries(WRITER_STATES)) {
    for (const [event, transition] of Object.entries(table)) {
      for (const target of transition?.targets ?? []) steps.add(`${phase} --${event}--> ${target}`);
    }
  }
  return steps;
}

/** A lock that grants only when the path says so. */
class ScriptedLock implements SharedLock {
  holder: SharedLock["holder"] = null;
  waiting: (() => void) | undefined;
  acquire(owner: WriterId, granted: () => void): void {
    if (this.holder !== null || this.waiting !== undefined) throw new Error("lock asked twice");
    this.waiting = () => {
      this.waiting = undefined;
      this.holder = owner;
      granted();
    };
  }

  release(owner: WriterId): void {
    if (this.holder !== owner) throw new Error("released a lock it does not hold");
    this.holder = null;
  }
}

/** A synchronizer that receives when the path says so. */
class ScriptedPort implements SynchronizerPort {
  endpoint: WriterEndpoint | undefined;
  inFlight: { requests: readonly WriteRequest[]; receipt: () => void } | undefined;
  /** Requests received, not yet answered, in order. */
  readonly received: WriteRequest[] = [];
  readonly #lock: ScriptedLock;
  violation: string | undefined;
  /** Requests the next send must start with (a resend goes ahead of newer groups). */
  resent: readonly WriteRequest[] = [];

  constructor(lock: ScriptedLock) {
    this.#lock = lock;
  }

  register(endpoint: WriterEndpoint): void {
    this.endpoint = endpoint;
  }

  send(requests: readonly WriteRequest[], receipt: () => void) {
    if (this.#lock.holder === null) this.violation ??= "a group was sent without the lock";
    if (this.inFlight !== undefined) this.violation ??= "a second group sent before the receipt";
    const resent = this.resent;
    if (resent.length > 0) {
      const ahead = resent.every((request, at) => requests[at]?.id === request.id);
      if (!ahead) this.violation ??= "a resent group did not go ahead of newer ones";
      this.resent = [];
    }
    this.inFlight = { requests, receipt };
    return undefined;
  }

  /** The writer model never faults: a fault here is a violation of the model. */
  fail(reason: string): SpoolFailed {
    this.violation ??= `the writer failed: ${reason}`;
    return new SpoolFailed({ dir: "model", reason, cause: undefined });
  }

  failure(): SpoolFailed | undefined {
    return undefined;
  }

  take(which: "one" | "all"): WriteRequest[] {
    return this.received.splice(0, which === "one" ? 1 : this.received.length);
  }
}

interface Outcome {
  resolved?: AppendResult;
  rejected?: unknown;
  writtenAt?: number;
}

/** A writer path that broke a promise or left the model. */
export class WriterPathFailed extends Error {}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs one writer path against the real {@link SenderRuntime}; returns the declared steps taken.
 *
 * @example
 * for (const path of writerTransitionPaths()) await runWriterPath(path);
 */
export async function runWriterPath(actions: readonly WriterAction[]): Promise<Set<string>> {
  const lock = new ScriptedLock();
  const port = new ScriptedPort(lock);
  const config = resolveConfig({});
  const sender = new SenderRuntime({
    id: writerId(1),
    dir: "model",
    config,
    lock,
    synchronizer: port,
  });
  const outcomes = new Map<number, Outcome>();
  let clock = 0;
  const confirmations = new Map<number, number>();
  let model = INITIAL;
  const steps = new Set<string>();
  const failed = new SpoolClosed({ dir: "model" });
  for (const [at, action] of actions.entries()) {
    const fail = (what: string) =>
      new WriterPathFailed(`writer path, step ${at + 1}: ${what}\n  ${JSON.stringify(actions)}`);
    const { next, event } = takeWriterAction(model, action);
    const target = next.machine.phase;
    steps.add(`${model.machine.phase} --${event.type}--> ${target}`);
    clock += 1;
    switch (action.type) {
      case "append":
        for (let n = 0; n < action.count; n++) {
          const outcome: Outcome = {};
          const id = outcomes.size + 1;
          outcomes.set(id, outcome);
          sender.append(writerId(1), new Uint8Array([id]), "flushed").then(
            (result) => {
              outcome.resolved = result;
              if (outcome.writtenAt === undefined) port.violation ??= `append ${id} resolved early`;
            },
            (error: unknown) => {
              outcome.rejected = error;
            },
          );
        }
        await turn();
        break;
      case "grant":
        if (lock.waiting === undefined) throw fail("the writer did not ask for the lock");
        lock.waiting();
        break;
      case "receipt": {
        const inFlight = port.inFlight;
        if (inFlight === undefined) throw fail("no group was sent");
        port.inFlight = undefined;
        port.received.push(...inFlight.requests);
        inFlight.receipt();
        if (lock.holder !== null) throw fail("the receipt did not release the lock");
        break;
      }
      case "written": {
        const requests = port.take(action.requests);
        const writes = requests.map(
          (request): PlacedWrite => ({
            request,
            seq: seq(request.id * 10),
            segment: segmentNumber(1),
            offset: byteOffset(0),
            byteSize: byteSize(48),
          }),
        );
        for (const request of requests) outcomes.get(request.id)!.writtenAt = clock;
        const batchId = model.nextBatchId;
        port.endpoint!.written({ batchId: batchId as BatchId, writes, level: "flushed" }, () => {
          confirmations.set(batchId, (confirmations.get(batchId) ?? 0) + 1);
        });
        if (confirmations.get(batchId) !== 1) throw fail(`batch ${batchId} not confirmed once`);
        break;
      }
      case "resend": {
        const requests = port.take(action.requests);
        port.resent = requests;
        port.endpoint!.resend(requests);
        break;
      }
      case "failed": {
        const requests = port.take(action.requests);
        for (const request of requests) outcomes.get(request.id)!.writtenAt = clock;
        port.endpoint!.failed(requests, failed);
        break;
      }
    }
    await turn();
    model = next;
    const real = sender.actor.getSnapshot();
    if (real.status !== "active") throw fail(`the writer actor is ${real.status}: ${real.error}`);
    if (JSON.stringify(real.context) !== JSON.stringify(model.machine)) {
      throw fail(`runtime ${JSON.stringify(real.context)}, model ${JSON.stringify(model.machine)}`);
    }
    if (port.violation !== undefined) throw fail(port.violation);
  }
  for (const [id, outcome] of outcomes) {
    if (outcome.resolved !== undefined && outcome.resolved.seq !== id * 10) {
      throw new WriterPathFailed(`append ${id} resolved with seq ${outcome.resolved.seq}`);
    }
    if (outcome.rejected !== undefined && outcome.rejected !== failed) {
      throw new WriterPathFailed(`append ${id} rejected with ${String(outcome.rejected)}`);
    }
  }
  return steps;
}

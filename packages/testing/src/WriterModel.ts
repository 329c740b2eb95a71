/**
 * The writer's model-based test: `xstate/graph` traverses {@link writerMachine} itself (or any
 * machine of its shape, such as a mutant with a broken guard), and every path is replayed
 * against the real {@link SenderRuntime} with a scripted shared lock and a scripted
 * synchronizer. After each step the runtime's machine must be where the path says, holding
 * groups of the sizes the path says. Checked throughout:
 *
 * - a request group is sent only while the writer holds the lock, and the receipt releases it;
 * - a skipped group is sent again before any newer group;
 * - an append resolves only after its write confirmation, with the seq it names, and a failed
 *   one rejects with the synchronizer's error;
 * - each write confirmation is answered with exactly one confirmation of confirmation.
 *
 * The events a state offers are the outside world's moves (an append, a grant, a receipt, an
 * answer from the synchronizer), bounded so the graph stays small and still reaches every
 * transition the machine declares: {@link declaredWriterTransitions} reads those from the
 * machine's own configuration, and {@link checkWriterModel} fails when a path misses one.
 */

import {
  type AppendResult,
  SenderRuntime,
  type SharedLock,
  type SynchronizerPort,
  type WriterEndpoint,
  type WriterEvent,
  type WriterGroup,
  writerMachine,
} from "@spool/actors";
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
import { type AnyTransitionDefinition, createActor, type SnapshotFrom } from "xstate";
import { getAdjacencyMap, getShortestPaths, type StatePath } from "xstate/graph";

/** The writer machine, or a machine made from it with `provide` (a mutant, in the tests). */
export type WriterMachine = typeof writerMachine;
/** A snapshot of the writer machine. */
export type WriterSnapshot = SnapshotFrom<WriterMachine>;
/** A path through the writer machine's state graph. */
export type WriterPath = StatePath<WriterSnapshot, WriterEvent>;

// Bounds that keep the state space small and still reach every transition: two groups waiting,
// four requests queued or held by the synchronizer at most.
const GROUPS_WAITING_MAX = 2;
const REQUESTS_HELD_MAX = 4;

// Stand-ins for requests in the traversal: the machine only holds and counts them.
function modelGroup(size: number): WriterGroup {
  return Array.from({ length: size }, (_, at) => ({ id: at + 1 }) as unknown as WriteRequest);
}

const noConfirm = (): void => {};

/** The outside world's moves in a state. @example possibleWriterEvents(actor.getSnapshot()) */
export function possibleWriterEvents(snapshot: WriterSnapshot): readonly WriterEvent[] {
  const { waiting, sending, awaitingWrite } = snapshot.context;
  const events: WriterEvent[] = [];
  const queued = waiting.reduce((sum, group) => sum + group.length, sending?.length ?? 0);
  if (waiting.length < GROUPS_WAITING_MAX && awaitingWrite + queued < REQUESTS_HELD_MAX) {
    // The runtime tries the lock only while the writer is idle: there the lock may be free
    // (taken at once) or held by another writer; elsewhere the group just queues.
    const lockTakenOptions = snapshot.value === "idle" ? [true, false] : [false];
    for (const size of [1, 2]) {
      for (const lockTaken of lockTakenOptions) {
        events.push({ type: "writer.append", group: modelGroup(size), lockTaken });
      }
    }
  }
  if (snapshot.value === "acquiring") events.push({ type: "lock.granted" });
  if (snapshot.value === "sending" && sending !== undefined) {
    events.push({ type: "sync.receipt", group: sending });
  }
  for (const count of new Set([1, awaitingWrite])) {
    if (count < 1 || awaitingWrite < 1) continue;
    events.push(
      { type: "sync.written", count, confirm: noConfirm },
      { type: "sync.resend", group: modelGroup(count) },
      { type: "sync.failed", count },
    );
  }
  return events;
}

/** Where the machine is and the sizes of what it holds: what a replay must match. */
export function writerStateKey(snapshot: WriterSnapshot): string {
  const { waiting, sending, awaitingWrite } = snapshot.context;
  return JSON.stringify([
    snapshot.value,
    waiting.map((group) => group.length),
    sending?.length ?? null,
    awaitingWrite,
  ]);
}

function writerEventKey(event: WriterEvent): string {
  switch (event.type) {
    case "writer.append":
      return `${event.type}(${event.group.length}${event.lockTaken ? ", lock free" : ""})`;
    case "sync.receipt":
    case "sync.resend":
      return `${event.type}(${event.group.length})`;
    case "sync.written":
    case "sync.failed":
      return `${event.type}(${event.count})`;
    case "lock.granted":
      return event.type;
  }
}

const traversal = {
  events: possibleWriterEvents,
  serializeState: (snapshot: WriterSnapshot) => writerStateKey(snapshot),
  serializeEvent: (event: WriterEvent) => writerEventKey(event),
};

/** A shortest path to every state of the machine's graph. @example writerStatePaths(mutant) */
export function writerStatePaths(machine: WriterMachine = writerMachine): WriterPath[] {
  return getShortestPaths(machine, traversal) as WriterPath[];
}

/**
 * A path over every edge of the machine's graph: the shortest path to its source, then it.
 *
 * @example
 * for (const path of writerEdgePaths()) await runWriterPath(path);
 */
export function writerEdgePaths(machine: WriterMachine = writerMachine): WriterPath[] {
  const toState = new Map<string, WriterPath>();
  for (const path of writerStatePaths(machine)) toState.set(writerStateKey(path.state), path);
  const paths: WriterPath[] = [];
  for (const [key, vertex] of Object.entries(getAdjacencyMap(machine, traversal))) {
    const prefix = toState.get(key);
    if (prefix === undefined) continue;
    for (const edge of Object.values(vertex.transitions)) {
      const { event, state } = edge as { event: WriterEvent; state: WriterSnapshot };
      paths.push({
        state,
        steps: [...prefix.steps, { state, event }],
        weight: prefix.weight + 1,
      });
    }
  }
  return paths;
}

/** One transition as `source --event[guard]--> target`; `always` for an eventless one. */
export function transitionKey(transition: AnyTransitionDefinition): string {
  const guard: unknown = transition.guard;
  const named = typeof guard === "string" ? guard : (guard as { type?: string } | undefined)?.type;
  const guardName = guard === undefined ? "" : `[${named ?? "inline"}]`;
  const event = transition.eventType === "" ? "always" : transition.eventType;
  const targets = transition.target?.map((node) => node.key).join(",") ?? "(stays)";
  return `${transition.source.key} --${event}${guardName}--> ${targets}`;
}

/** A protocol violation's transition: it fails the actor, so no valid path takes it. */
export function isRefusal(transition: AnyTransitionDefinition): boolean {
  return transition.actions.some(
    (action) => action === "refuse" || (action as { type?: unknown }).type === "refuse",
  );
}

/**
 * Every transition the machine's configuration declares, refusals apart.
 *
 * @example
 * declaredWriterTransitions().has("acquiring --lock.granted--> sending"); // true
 */
export function declaredWriterTransitions(machine: WriterMachine = writerMachine): Set<string> {
  const keys = new Set<string>();
  const visit = (node: WriterMachine["root"]) => {
    for (const transitions of node.transitions.values()) {
      for (const transition of transitions) {
        if (!isRefusal(transition)) keys.add(transitionKey(transition));
      }
    }
    for (const transition of node.always ?? []) keys.add(transitionKey(transition));
    for (const child of Object.values(node.states)) visit(child as WriterMachine["root"]);
  };
  visit(machine.root);
  return keys;
}

/** The transitions the machine takes along the paths, read from xstate's inspection. */
export function writerTransitionsTaken(machine: WriterMachine, paths: readonly WriterPath[]) {
  const taken = new Set<string>();
  for (const path of paths) {
    const actor = createActor(machine, {
      inspect: (inspection) => {
        if (inspection.type !== "@xstate.microstep") return;
        for (const transition of inspection._transitions) taken.add(transitionKey(transition));
      },
    });
    // A path that fails the actor takes fewer transitions: the coverage check reports that.
    actor.subscribe({ error: () => undefined });
    actor.start();
    for (const { event } of path.steps.slice(1)) {
      // The graph keeps one snapshot per state, so a receipt may name the group of another
      // path that reached it: the receipt is for the group this actor sent.
      const sending = actor.getSnapshot().context.sending;
      const receipt = event.type === "sync.receipt" && sending !== undefined;
      actor.send(receipt ? { type: "sync.receipt", group: sending } : event);
    }
    actor.stop();
  }
  return taken;
}

/** A lock that grants only when the path says so. */
class ScriptedLock implements SharedLock {
  holder: SharedLock["holder"] = null;
  waiting: (() => void) | undefined;
  /** Whether the lock is free for the writer's next try: the path's event says. */
  freeForTry = false;
  tryAcquire(owner: WriterId): boolean {
    if (this.holder !== null || this.waiting !== undefined)
      throw new Error("lock tried while held");
    if (!this.freeForTry) return false;
    this.holder = owner;
    return true;
  }
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

  take(count: number): WriteRequest[] {
    if (count > this.received.length) {
      this.violation ??= `asked for ${count} of ${this.received.length} requests held`;
    }
    return this.received.splice(0, count);
  }
}

interface Outcome {
  resolved?: AppendResult;
  rejected?: unknown;
  writtenAt?: number;
}

/** A writer path that broke a promise or left the machine's path. */
export class WriterPathFailed extends Error {}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The world's side of one replay: the runtime under test and its scripted neighbours. */
class Replay {
  readonly lock = new ScriptedLock();
  readonly port = new ScriptedPort(this.lock);
  readonly sender = new SenderRuntime({
    id: writerId(1),
    dir: "model",
    config: resolveConfig({}),
    lock: this.lock,
    synchronizer: this.port,
  });
  readonly outcomes = new Map<number, Outcome>();
  readonly confirmations = new Map<number, number>();
  readonly failed = new SpoolClosed({ dir: "model" });
  clock = 0;
  nextBatchId = 1;

  append(count: number): void {
    for (let n = 0; n < count; n++) {
      const outcome: Outcome = {};
      const id = this.outcomes.size + 1;
      this.outcomes.set(id, outcome);
      this.sender.append(writerId(1), new Uint8Array([id]), "flushed").then(
        (result) => {
          outcome.resolved = result;
          if (outcome.writtenAt === undefined)
            this.port.violation ??= `append ${id} resolved early`;
        },
        (error: unknown) => {
          outcome.rejected = error;
        },
      );
    }
  }

  written(count: number): string | undefined {
    const requests = this.port.take(count);
    const writes = requests.map(
      (request): PlacedWrite => ({
        request,
        seq: seq(request.id * 10),
        segment: segmentNumber(1),
        offset: byteOffset(0),
        byteSize: byteSize(48),
      }),
    );
    for (const request of requests) this.outcomes.get(request.id)!.writtenAt = this.clock;
    const batchId = this.nextBatchId++;
    const notice = {
      batchId: batchId as BatchId,
      writes,
      level: "flushed" as const,
      replicas: null,
    };
    this.port.endpoint!.written(notice, () => {
      this.confirmations.set(batchId, (this.confirmations.get(batchId) ?? 0) + 1);
    });
    return this.confirmations.get(batchId) === 1
      ? undefined
      : `batch ${batchId} not confirmed once`;
  }

  /** Makes the world move as `event` says; returns what went wrong, if anything did. */
  async take(event: WriterEvent): Promise<string | undefined> {
    this.clock += 1;
    switch (event.type) {
      case "writer.append":
        this.lock.freeForTry = event.lockTaken;
        this.append(event.group.length);
        await turn();
        return undefined;
      case "lock.granted":
        if (this.lock.waiting === undefined) return "the writer did not ask for the lock";
        this.lock.waiting();
        return undefined;
      case "sync.receipt": {
        const inFlight = this.port.inFlight;
        if (inFlight === undefined) return "no group was sent";
        this.port.inFlight = undefined;
        this.port.received.push(...inFlight.requests);
        inFlight.receipt();
        return this.lock.holder === null ? undefined : "the receipt did not release the lock";
      }
      case "sync.written":
        return this.written(event.count);
      case "sync.resend": {
        const requests = this.port.take(event.group.length);
        this.port.resent = requests;
        this.port.endpoint!.resend(requests);
        return undefined;
      }
      case "sync.failed": {
        const requests = this.port.take(event.count);
        for (const request of requests) this.outcomes.get(request.id)!.writtenAt = this.clock;
        this.port.endpoint!.failed(requests, this.failed);
        return undefined;
      }
    }
  }

  /** What broke a promise once the path is done, if anything did. */
  settled(): string | undefined {
    for (const [id, outcome] of this.outcomes) {
      if (outcome.resolved !== undefined && outcome.resolved.seq !== id * 10) {
        return `append ${id} resolved with seq ${outcome.resolved.seq}`;
      }
      if (outcome.rejected !== undefined && outcome.rejected !== this.failed) {
        return `append ${id} rejected with ${String(outcome.rejected)}`;
      }
    }
    return undefined;
  }
}

/**
 * Replays one path of the machine's graph against the real {@link SenderRuntime}: throws
 * {@link WriterPathFailed} where the runtime's machine leaves the path or a promise breaks.
 *
 * @example
 * for (const path of writerEdgePaths()) await runWriterPath(path);
 */
export async function runWriterPath(path: WriterPath): Promise<void> {
  const replay = new Replay();
  const events = path.steps.slice(1).map((step) => writerEventKey(step.event));
  for (const [at, step] of path.steps.slice(1).entries()) {
    const fail = (what: string) =>
      new WriterPathFailed(`writer path, step ${at + 1}: ${what}\n  ${events.join(" → ")}`);
    const wrong = await replay.take(step.event);
    if (wrong !== undefined) throw fail(wrong);
    await turn();
    const real = replay.sender.actor.getSnapshot();
    if (real.status !== "active") throw fail(`the writer actor is ${real.status}: ${real.error}`);
    const [actual, expected] = [writerStateKey(real), writerStateKey(step.state)];
    if (actual !== expected) throw fail(`runtime ${actual}, path ${expected}`);
    if (replay.port.violation !== undefined) throw fail(replay.port.violation);
  }
  const broken = replay.settled();
  if (broken !== undefined) throw new WriterPathFailed(`${broken}\n  ${events.join(" → ")}`);
}

/** What {@link checkWriterModel} found. */
export interface WriterModelReport {
  /** Paths replayed. */
  readonly paths: number;
  /** Why each failing path failed. */
  readonly failures: readonly string[];
  /** Declared transitions no path took. */
  readonly missing: readonly string[];
}

/**
 * The whole model check for a writer machine: a shortest path to every state and a path over
 * every edge of its graph, each replayed against the real runtime, and every transition its
 * configuration declares taken by some path. The real machine passes; a mutant must not.
 *
 * @example
 * const { failures, missing } = await checkWriterModel(writerMachine);
 */
export async function checkWriterModel(
  machine: WriterMachine = writerMachine,
): Promise<WriterModelReport> {
  const paths = [...writerStatePaths(machine), ...writerEdgePaths(machine)];
  const failures: string[] = [];
  for (const path of paths) {
    try {
      await runWriterPath(path);
    } catch (error) {
      if (!(error instanceof WriterPathFailed)) throw error;
      failures.push(error.message);
    }
  }
  const taken = writerTransitionsTaken(machine, paths);
  const missing = [...declaredWriterTransitions(machine)].filter((key) => !taken.has(key));
  return { paths: paths.length, failures, missing };
}

/**
 * Runs a model path against the real synchronizer runtime: the real {@link Synchronizer} over a
 * real adapter, with a gate in front of the adapter (the path decides when a map or a write
 * completes or fails), scripted writers (they confirm when the path says so) and scripted
 * timers (they fire when the path says so), all three in SynchronizerRig.ts. A path over a log
 * runs the same way over a real {@link LogAdapter} behind a GatedLog (GatedLog.ts). After every
 * step the runtime's state must match the model's, and these must hold throughout:
 *
 * - no writer gets a write confirmation before a flush that covers its writes completed (on a
 *   log: before the log acknowledged them, and then with the seq and replicas the log gave);
 * - a batch is cleared only once each of its writers confirmed, was marked slow (its
 *   confirmation owed), or its confirm timer or deadline fired;
 * - requests parked while a batch was out start the next batch, in order;
 * - a request gets one answer at most (written or failed); once the spool closes cleanly every
 *   request sent was written, once it breaks every one was written or failed;
 * - every confirmed record reads back intact from the adapter (from the log, by its seq).
 */

import {
  Synchronizer,
  type SynchronizerSnapshot,
  synchronizerMachine,
  type TimerPurpose,
} from "@spool/actors";
import {
  type AdapterFactory,
  byteOffset,
  byteSize,
  decodeRecord,
  type FlushAdapter,
  type LogAdapter,
  recordByteSize,
  type SpoolConfig,
} from "@spool/core";
import {
  abstractState,
  type DeclaredStep,
  initialModelState,
  isAutomatic,
  type ModelEvent,
  phaseOf,
  type SynchronizerAction,
  type SynchronizerModelState,
  takeAction,
} from "./SynchronizerModel.js";
import { modelConfig } from "./SynchronizerModelMachine.js";
import { actionContract, type ModelPath } from "./SynchronizerPaths.js";
import {
  type Answer,
  type ConfirmationRule,
  type Gate,
  GatedAdapter,
  type Gates,
  nextTurn,
  ScriptedTimers,
  ScriptedWriters,
  SETTLE_TIMEOUT_MS,
  SnapshotWatch,
  until,
} from "./SynchronizerRig.js";

/** A path that broke a promise or left the model: what, and at which step. */
export class PathFailed extends Error {
  constructor(
    readonly path: ModelPath,
    readonly step: number,
    what: string,
  ) {
    const actions = path.actions.map((action) => JSON.stringify(action)).join(" ");
    super(`${path.variant} path (${path.store}), step ${step}: ${what}\n  actions: ${actions}`);
  }
}

/** What running one path showed. */
export interface PathReport {
  /** Declared steps of the flowchart the path took. */
  readonly steps: ReadonlySet<DeclaredStep>;
  /** Abstract states the runtime went through, repeats dropped. */
  readonly trace: readonly string[];
  readonly recordsReadBack: number;
}

/** A fresh store for one path: an adapter factory over an empty directory or disk. */
export interface FreshStore {
  readonly factory: AdapterFactory;
  readonly dir: string;
  /** Removes what the path left; called after it ran. */
  readonly remove?: () => Promise<void>;
}

/** The store a path runs over, as the harness drives and checks it. */
export interface StoreRig {
  readonly adapter: FlushAdapter | LogAdapter;
  readonly gates: Gates;
  readonly rule: ConfirmationRule;
  /** Reads every confirmed record back; returns how many. */
  readonly readBack: (writers: ScriptedWriters) => Promise<number>;
  /** A promise the store itself broke, if any. */
  readonly violation: () => string | undefined;
}

async function readBack(adapter: FlushAdapter, writers: ScriptedWriters): Promise<number> {
  let count = 0;
  for (const [id, answer] of writers.answers) {
    if (answer.kind !== "written") continue;
    const request = writers.sent.get(id)!;
    const { segment, offset } = answer as Required<Answer>;
    // The whole record, padding included: decodeRecord checks the padding too.
    const size = recordByteSize(request.payload.byteLength);
    const bytes = await adapter.read(segment, byteOffset(offset), byteSize(size));
    const record = decodeRecord(bytes, 0);
    if (!record.ok) throw new Error(`request ${id}'s record reads back ${record.defect}`);
    if (record.header.seq !== answer.seq) throw new Error(`request ${id} reads back another seq`);
    if (!sameBytes(record.payload, request.payload)) throw new Error(`request ${id} changed`);
    count += 1;
  }
  return count;
}

function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  return left.byteLength === right.byteLength && left.every((byte, at) => byte === right[at]);
}

function checkEnd(final: SynchronizerSnapshot, writers: ScriptedWriters): void {
  const phase = phaseOf(final);
  if (phase !== "closed" && phase !== "broken") return;
  for (const id of writers.sent.keys()) {
    const answer = writers.answers.get(id);
    if (answer === undefined) throw new Error(`request ${id} never answered after ${phase}`);
    if (final.context.failure === null && answer.kind !== "written") {
      throw new Error(`request ${id} failed though the spool closed cleanly`);
    }
  }
}

/** How to run a path. */
export interface RunOptions {
  /**
   * The machine the runtime runs: the real one by default. A test gives it a mutant (a guard
   * broken with `synchronizerMachine.provide`) to see the path fail against the model.
   */
  readonly machine?: typeof synchronizerMachine;
}

/**
 * Runs one model path on a fresh store through the real runtime and checks it.
 *
 * @example
 * const report = await runSynchronizerPath(path, await freshMemoryStore());
 */
export async function runSynchronizerPath(
  path: ModelPath,
  store: FreshStore,
  options: RunOptions = {},
): Promise<PathReport> {
  if (path.store !== "disk") throw new Error(`a ${path.store} path runs with runLogPath`);
  const config: SpoolConfig = modelConfig(path.variant);
  const base = await store.factory({
    dir: store.dir,
    segmentByteSize: config.segmentByteSize,
    pageByteSize: config.pageByteSize,
  });
  try {
    const adapter = new GatedAdapter(base);
    const rig: StoreRig = {
      adapter,
      gates: adapter,
      rule: adapter,
      readBack: (writers) => readBack(base, writers),
      violation: () => undefined,
    };
    return await runOnStore(path, config, rig, options.machine ?? synchronizerMachine);
  } finally {
    await base.close();
    await store.remove?.();
  }
}

/** Runs one path over a store's rig: the part of a path's run that disks and logs share. */
export async function runOnStore(
  path: ModelPath,
  config: SpoolConfig,
  rig: StoreRig,
  machine: typeof synchronizerMachine,
): Promise<PathReport> {
  const { gates } = rig;
  const timers = new ScriptedTimers();
  const writers = new ScriptedWriters(rig.rule);
  const watch = new SnapshotWatch(writers);
  let model: SynchronizerModelState = initialModelState(config, synchronizerMachine, path.store);
  let nowMs = 0;
  const synchronizer = new Synchronizer({
    dir: "model",
    config,
    adapter: rig.adapter,
    cursor: model.snapshot.context.admission.cursor,
    clock: () => nowMs,
    timers,
    machine,
  });
  writers.attach(synchronizer);
  const real = () => synchronizer.actor.getSnapshot();
  // A machine that throws fails the spool (the runtime's own observer hears it): the path then
  // fails on the difference, not on an unhandled error.
  synchronizer.actor.subscribe({ next: (snapshot) => watch.see(snapshot), error: () => undefined });
  watch.see(real());
  const expectedTrace = [abstractState(model.snapshot)];
  const steps = new Set<DeclaredStep>();
  for (const [at, action] of path.actions.entries()) {
    const fail = (what: string) => new PathFailed(path, at + 1, what);
    const taken = takeAction(model, action);
    const { next, event } = taken;
    for (const step of taken.steps) steps.add(step);
    const broken = actionContract(model, action, taken);
    if (broken !== undefined) throw fail(`the machine broke a rule: ${broken}`);
    try {
      if (!isAutomatic(model, action)) {
        nowMs = Math.max(nowMs, "atMs" in event ? event.atMs : nowMs);
        await stimulate(action, event, { gates, timers, writers, synchronizer, watch, model });
      }
    } catch (error) {
      throw fail(error instanceof Error ? error.message : String(error));
    }
    model = next;
    const expected = abstractState(model.snapshot);
    if (expectedTrace.at(-1) !== expected) expectedTrace.push(expected);
    // Automatic actions happen inside the runtime's previous turn: check after the last one.
    const following = path.actions[at + 1];
    if (following !== undefined && isAutomatic(model, following)) continue;
    try {
      await until(
        () => abstractState(real()) === expected,
        () => `the runtime in ${abstractState(real())}, the model in ${expected}`,
      );
    } catch (error) {
      throw fail(error instanceof Error ? error.message : String(error));
    }
    const violation = writers.violation ?? watch.violation ?? rig.violation();
    if (violation !== undefined) throw fail(violation);
  }
  const last = path.actions.length;
  if (watch.trace.join("\n") !== expectedTrace.join("\n")) {
    throw new PathFailed(path, last, `trace differs:\n${watch.trace.join("\n")}`);
  }
  try {
    checkEnd(real(), writers);
    const recordsReadBack = await rig.readBack(writers);
    return { steps, trace: watch.trace, recordsReadBack };
  } catch (error) {
    throw new PathFailed(path, last, error instanceof Error ? error.message : String(error));
  }
}

/**
 * Lets through every flush the in-flight batch needs, oldest first and one at a time, until
 * the runtime has heard that it is written.
 */
async function releaseFlushes(gates: Gates, synchronizer: Synchronizer): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  // A batch whose writers are all slow clears as soon as it is written, and the machine may be
  // back on the disk with the next one at once: done when the in-flight batch changed too.
  const inFlight = () => synchronizer.actor.getSnapshot().context.inFlight?.batch.id;
  const writtenOf = inFlight();
  const onDisk = () =>
    ["writing", "writingAhead"].includes(synchronizer.state()) && inFlight() === writtenOf;
  while (onDisk()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the flush");
    gates.held("flush")[0]?.go();
    await nextTurn();
  }
}

/**
 * The gate a disk action opens or fails: the map, the write call, or a flush (on a log: the
 * append's handover to the log, or its acknowledgement).
 */
async function gateFor(
  action: SynchronizerAction["type"],
  model: SynchronizerSnapshot,
  gates: Gates,
): Promise<Gate> {
  const ahead = action.endsWith(".ahead");
  const slot = ahead ? model.context.ahead : model.context.inFlight;
  const submitted = slot?.submitted ?? false;
  const operation: Gate["operation"] =
    phaseOf(model) === "mapping"
      ? "map"
      : action.startsWith("disk.submit") || !submitted
        ? "write"
        : "flush";
  // The in-flight batch's flush was called first: it is the oldest; the ahead batch's the newest.
  const pick = () => {
    const held = gates.held(operation);
    return ahead ? held.at(-1) : held[0];
  };
  await until(
    () => pick() !== undefined,
    () => `the ${operation} call`,
  );
  return pick()!;
}

interface Rig {
  readonly gates: Gates;
  readonly timers: ScriptedTimers;
  readonly writers: ScriptedWriters;
  readonly synchronizer: Synchronizer;
  readonly watch: SnapshotWatch;
  readonly model: SynchronizerModelState;
}

/** Makes the runtime take `action`, the way the outside world would. */
async function stimulate(action: SynchronizerAction, event: ModelEvent, rig: Rig) {
  const { gates, timers, writers, synchronizer, watch, model } = rig;
  const kind = (wanted: TimerPurpose["kind"]) => (purpose: TimerPurpose | undefined) =>
    purpose?.kind === wanted;
  switch (action.type) {
    case "send":
      if (event.type === "sync.requests") writers.send(event.requests);
      return;
    case "close":
      void synchronizer.close();
      return;
    case "wake": {
      await until(
        () => timers.latest(kind("wake")) !== undefined,
        () => "a wake timer",
      );
      timers.fire(timers.latest(kind("wake"))!);
      return;
    }
    case "confirm.timeout": {
      await until(
        () => timers.latest(kind("confirmTimeout")) !== undefined,
        () => "a confirm timer",
      );
      watch.timedOut.add(model.snapshot.context.inFlight!.batch.id);
      timers.fire(timers.latest(kind("confirmTimeout"))!);
      return;
    }
    case "confirm.deadline": {
      await until(
        () => timers.latest(kind("confirmDeadline")) !== undefined,
        () => "a confirmation deadline",
      );
      watch.timedOut.add(model.snapshot.context.inFlight!.batch.id);
      timers.fire(timers.latest(kind("confirmDeadline"))!);
      return;
    }
    case "confirm.late":
      writers.confirmOldest(model.snapshot.context.slowWriters[0]!.writerId);
      return;
    case "confirm.lapse": {
      const writerId = model.snapshot.context.slowWriters[0]!.writerId;
      const lapse = (purpose: TimerPurpose | undefined) =>
        purpose?.kind === "confirmLapse" && purpose.writerId === writerId;
      await until(
        () => timers.latest(lapse) !== undefined,
        () => `the lapse timer of writer ${writerId}`,
      );
      timers.fire(timers.latest(lapse)!);
      // The lapsed confirmation is the oldest held: the writer will not send it now.
      writers.forgetOldest(writerId);
      return;
    }
    // A timer of an earlier batch that fired just before its cancel: delivered to the actor as
    // its callback would.
    case "confirm.timeout.late":
    case "confirm.deadline.late":
      if (event.type === "writer.confirmTimedOut" || event.type === "writer.confirmDeadline") {
        synchronizer.actor.send(event);
      }
      return;
    case "disk.submit":
      (await gateFor(action.type, model.snapshot, gates)).go();
      return;
    case "disk.done.ahead": {
      // The machine never asked about its bytes: the write call returns, then its flush ends.
      const flushesHeld = gates.held("flush").length;
      (await gateFor(action.type, model.snapshot, gates)).go();
      await until(
        () => gates.held("flush").length > flushesHeld,
        () => "the flush of the batch written ahead",
      );
      gates.held("flush").at(-1)!.go();
      return;
    }
    case "disk.fail":
    case "disk.fail.ahead":
      if ("error" in event) (await gateFor(action.type, model.snapshot, gates)).fail(event.error);
      return;
    case "disk.done":
      if (phaseOf(model.snapshot) === "mapping") {
        (await gateFor(action.type, model.snapshot, gates)).go();
        return;
      }
      // Unasked, the bytes' handover is no event: the write call returns, then the flushes.
      if (!(model.snapshot.context.inFlight?.submitted ?? true)) {
        (await gateFor(action.type, model.snapshot, gates)).go();
      }
      await releaseFlushes(gates, synchronizer);
      return;
    case "confirm": {
      const batchId = model.snapshot.context.inFlight!.batch.id;
      // The writers confirm once their notices came (a microtask after the flush).
      await until(
        () => (writers.confirmations.get(batchId)?.length ?? 0) > 0,
        () => `write confirmations of batch ${batchId}`,
      );
      const slow = new Set(model.snapshot.context.slowWriters.map((writer) => writer.writerId));
      writers.confirm(batchId, action.writers, slow);
      return;
    }
    case "resend.arrives":
    case "courier.resent":
    case "confirm.none":
      return;
  }
}

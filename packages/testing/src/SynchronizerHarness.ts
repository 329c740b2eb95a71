/**
 * Runs a model path against the real synchronizer runtime: the real {@link Synchronizer} over a
 * real adapter, with a gate in front of the adapter (the path decides when a map or a write
 * completes or fails), scripted writers (they confirm when the path says so) and scripted
 * timers (they fire when the path says so). After every step the runtime's state must match
 * the model's, and these must hold throughout:
 *
 * - no writer gets a write confirmation before a flush that covers its writes completed;
 * - a batch is cleared only once each of its writers confirmed, was marked slow (its
 *   confirmation owed), or its confirm timer or deadline fired;
 * - requests parked while a batch was out start the next batch, in order;
 * - a request gets one answer at most (written or failed); once the spool closes cleanly every
 *   request sent was written, once it breaks every one was written or failed;
 * - every confirmed record reads back intact from the adapter.
 */

import {
  notAwaitedWriters,
  Synchronizer,
  type SynchronizerSnapshot,
  type SynchronizerTimers,
  synchronizerMachine,
  type TimerPurpose,
  type WriterEndpoint,
  type WrittenNotice,
} from "@spool/actors";
import {
  type AdapterFactory,
  byteOffset,
  byteSize,
  decodeRecord,
  type FlushAdapter,
  type FlushMode,
  type Region,
  type RequestId,
  recordByteSize,
  type SegmentNumber,
  type SpoolConfig,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import {
  AUTOMATIC_ACTIONS,
  abstractState,
  actionContract,
  type DeclaredStep,
  initialModelState,
  MODEL_WRITERS,
  type ModelEvent,
  type ModelPath,
  modelConfig,
  phaseOf,
  type SynchronizerAction,
  type SynchronizerModelState,
  takeAction,
} from "./SynchronizerModel.js";

/** A path that broke a promise or left the model: what, and at which step. */
export class PathFailed extends Error {
  constructor(
    readonly path: ModelPath,
    readonly step: number,
    what: string,
  ) {
    const actions = path.actions.map((action) => JSON.stringify(action)).join(" ");
    super(`${path.variant} path, step ${step}: ${what}\n  actions: ${actions}`);
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

// Long enough for a real disk's map, write and fdatasync; a correct runtime answers in well
// under a millisecond in memory.
const SETTLE_TIMEOUT_MS = 5_000;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function until(holds: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await nextTurn();
  }
}

interface Gate {
  readonly operation: "map" | "write" | "flush";
  readonly go: () => void;
  readonly fail: (error: unknown) => void;
}

interface FlushDone {
  readonly segment: SegmentNumber;
  readonly from: number;
  readonly to: number;
  readonly mode: FlushMode;
}

/**
 * The adapter the runtime sees: the real one, with each map, write and flush held at a gate.
 * Gates are kept in the order the calls came: with pipelining, the in-flight batch's flush
 * and the batch written beside it are held at once.
 */
class GatedAdapter implements FlushAdapter {
  readonly name: string;
  // Each held flush answers for itself: the model lets either of two finish or fail first.
  readonly concurrentFlushes = true;
  readonly gates: Gate[] = [];
  readonly flushes: FlushDone[] = [];
  readonly #base: FlushAdapter;

  constructor(base: FlushAdapter) {
    this.#base = base;
    this.name = `gated ${base.name}`;
  }

  /** The held gates of one operation, oldest first. */
  held(operation: Gate["operation"]): Gate[] {
    return this.gates.filter((gate) => gate.operation === operation);
  }

  #held<T>(operation: Gate["operation"], run: () => Promise<T>): Promise<T> {
    const same = this.held(operation).length;
    // At most two batches are on the disk: two flushes, one write (the second batch's) beside
    // a flush, one map alone.
    if ((operation === "flush" && same >= 2) || (operation !== "flush" && same >= 1)) {
      throw new Error(`a ${operation} while another ${operation} is held`);
    }
    return new Promise<T>((resolve, reject) => {
      const open = (gate: Gate) => this.gates.splice(this.gates.indexOf(gate), 1);
      const gate: Gate = {
        operation,
        go: () => {
          open(gate);
          run().then(resolve, reject);
        },
        fail: (error) => {
          open(gate);
          reject(error);
        },
      };
      this.gates.push(gate);
    });
  }

  readManifest(name?: string) {
    return this.#base.readManifest(name);
  }
  writeManifest(text: string, name?: string) {
    return this.#base.writeManifest(text, name);
  }
  listSegments() {
    return this.#base.listSegments();
  }
  prepareSegment(segment: SegmentNumber) {
    return this.#base.prepareSegment(segment);
  }
  isMapped(segment: SegmentNumber) {
    return this.#base.isMapped(segment);
  }
  map(segment: SegmentNumber) {
    return this.#held("map", () => this.#base.map(segment));
  }
  stage(region: Region) {
    return this.#base.stage(region);
  }
  write(region: Region) {
    return this.#held("write", () => this.#base.write(region));
  }
  async flush(region: Region, mode: FlushMode) {
    await this.#held("flush", () => this.#base.flush(region, mode));
    const from = region.offset;
    this.flushes.push({ segment: region.segment, from, to: from + region.byteSize, mode });
  }
  read(segment: SegmentNumber, offset: ReturnType<typeof byteOffset>, size: Region["byteSize"]) {
    return this.#base.read(segment, offset, size);
  }
  removeSegment(segment: SegmentNumber) {
    return this.#base.removeSegment(segment);
  }
  close() {
    return this.#base.close();
  }
}

interface ArmedTimer {
  readonly ms: number;
  readonly fire: () => void;
  readonly purpose: TimerPurpose | undefined;
  cancelled: boolean;
}

/** Timers that fire only when the path says so. */
class ScriptedTimers implements SynchronizerTimers {
  readonly armed: ArmedTimer[] = [];

  after(ms: number, fire: () => void, purpose?: TimerPurpose): () => void {
    const timer: ArmedTimer = { ms, fire, purpose, cancelled: false };
    this.armed.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** The latest live timer that `matches`, if any. */
  latest(matches: (purpose: TimerPurpose | undefined) => boolean): ArmedTimer | undefined {
    return this.armed.findLast((timer) => !timer.cancelled && matches(timer.purpose));
  }

  fire(timer: ArmedTimer): void {
    timer.cancelled = true;
    timer.fire();
  }
}

interface Answer {
  readonly kind: "written" | "failed";
  readonly seq?: number;
  readonly segment?: SegmentNumber;
  readonly offset?: number;
}

/** Scripted writers and the book of what each request was told. */
class ScriptedWriters {
  readonly answers = new Map<RequestId, Answer>();
  readonly sent = new Map<RequestId, WriteRequest>();
  /** Held confirmations of confirmation, per batch, in the order the notices came. */
  readonly confirmations = new Map<number, { writerId: WriterId; confirm: () => void }[]>();
  readonly confirmed = new Map<number, number>();
  readonly noticed = new Map<number, number>();
  violation: string | undefined;
  readonly #adapter: GatedAdapter;
  #synchronizer: Synchronizer | undefined;

  constructor(adapter: GatedAdapter) {
    this.#adapter = adapter;
  }

  attach(synchronizer: Synchronizer): void {
    this.#synchronizer = synchronizer;
    for (const id of MODEL_WRITERS) synchronizer.register(this.#endpoint(id));
  }

  send(requests: readonly WriteRequest[]): void {
    for (const request of requests) this.sent.set(request.id, request);
    const refusal = this.#synchronizer!.send(requests, () => {});
    if (refusal !== undefined) this.#fail(`the runtime refused a send: ${refusal.message}`);
  }

  #fail(what: string): void {
    this.violation ??= what;
  }

  #answer(request: WriteRequest, answer: Answer): void {
    const before = this.answers.get(request.id);
    if (before !== undefined) {
      this.#fail(`request ${request.id} answered twice: ${before.kind}, then ${answer.kind}`);
    }
    this.answers.set(request.id, answer);
  }

  #covered(write: WrittenNotice["writes"][number], level: WrittenNotice["level"]): boolean {
    const end = write.offset + write.byteSize;
    return this.#adapter.flushes.some(
      (flush) =>
        flush.segment === write.segment &&
        flush.from <= write.offset &&
        end <= flush.to &&
        (level === "async" || flush.mode === "sync"),
    );
  }

  #endpoint(id: WriterId): WriterEndpoint {
    return {
      id,
      written: (notice, confirm) => {
        for (const write of notice.writes) {
          if (write.request.senderId !== id) this.#fail(`writer ${id} told of another's request`);
          if (!this.#covered(write, notice.level)) {
            this.#fail(`request ${write.request.id} confirmed before a flush covered it`);
          }
          this.#answer(write.request, {
            kind: "written",
            seq: write.seq,
            segment: write.segment,
            offset: write.offset,
          });
        }
        const held = this.confirmations.get(notice.batchId) ?? [];
        held.push({ writerId: id, confirm });
        this.confirmations.set(notice.batchId, held);
        this.noticed.set(notice.batchId, (this.noticed.get(notice.batchId) ?? 0) + 1);
      },
      // In-process writers resend at once (claim 66).
      resend: (requests) => this.send(requests),
      failed: (requests) => {
        for (const request of requests) this.#answer(request, { kind: "failed" });
      },
    };
  }

  /**
   * Sends the held confirmations of `batchId` the batch waits for (not those of `slow`
   * writers): the oldest one, or all.
   */
  confirm(batchId: number, writers: "one" | "all", slow: ReadonlySet<WriterId>): void {
    const held = this.confirmations.get(batchId) ?? [];
    const awaited = held.filter((confirmation) => !slow.has(confirmation.writerId));
    const now = writers === "one" ? awaited.slice(0, 1) : awaited;
    if (now.length === 0) this.#fail(`no confirmation held for batch ${batchId}`);
    this.#send(batchId, now);
  }

  /** Sends `writerId`'s oldest held confirmation (a slow writer's, owed). */
  confirmOldest(writerId: WriterId): void {
    const batches = [...this.confirmations.keys()].sort((left, right) => left - right);
    for (const batchId of batches) {
      const mine = this.confirmations.get(batchId)!.find((held) => held.writerId === writerId);
      if (mine === undefined) continue;
      this.#send(batchId, [mine]);
      return;
    }
    this.#fail(`no confirmation held for writer ${writerId}`);
  }

  /** Drops `writerId`'s oldest held confirmation: it lapsed, and is never sent. */
  forgetOldest(writerId: WriterId): void {
    const batches = [...this.confirmations.keys()].sort((left, right) => left - right);
    for (const batchId of batches) {
      const held = this.confirmations.get(batchId)!;
      const at = held.findIndex((confirmation) => confirmation.writerId === writerId);
      if (at === -1) continue;
      held.splice(at, 1);
      // Counted as answered for the clearing check: the runtime counted it failed.
      this.confirmed.set(batchId, (this.confirmed.get(batchId) ?? 0) + 1);
      return;
    }
  }

  #send(batchId: number, now: readonly { writerId: WriterId; confirm: () => void }[]): void {
    const held = this.confirmations.get(batchId) ?? [];
    this.confirmations.set(
      batchId,
      held.filter((confirmation) => !now.includes(confirmation)),
    );
    this.confirmed.set(batchId, (this.confirmed.get(batchId) ?? 0) + now.length);
    for (const { confirm } of now) confirm();
  }
}

/** The checks on the runtime's snapshots: clearing, parked requests, and the trace. */
class SnapshotWatch {
  readonly trace: string[] = [];
  violation: string | undefined;
  readonly timedOut = new Set<number>();
  /** Per batch, how many of its writers were slow: the batch does not wait for them. */
  readonly notAwaited = new Map<number, number>();
  #previous: SynchronizerSnapshot | undefined;
  /** The request that must start the next batch written after a clear, if any. */
  #firstAfterClear: WriteRequest | undefined;
  readonly #writers: ScriptedWriters;

  constructor(writers: ScriptedWriters) {
    this.#writers = writers;
  }

  see(snapshot: SynchronizerSnapshot): void {
    const { context } = snapshot;
    const state = abstractState(snapshot);
    if (this.trace.at(-1) !== state) this.trace.push(state);
    const previous = this.#previous;
    this.#previous = snapshot;
    if (previous === undefined) return;
    const cleared = previous.context.inFlight?.batch;
    if (
      cleared !== undefined &&
      context.inFlight?.batch.id !== cleared.id &&
      context.failure === null
    ) {
      const noticed = this.#writers.noticed.get(cleared.id) ?? 0;
      const confirmed = this.#writers.confirmed.get(cleared.id) ?? 0;
      const allConfirmed = confirmed + (this.notAwaited.get(cleared.id) ?? 0) >= noticed;
      if (!allConfirmed && !this.timedOut.has(cleared.id)) {
        this.violation ??= `batch ${cleared.id} cleared before every writer confirmed`;
      }
      // Requests gathered while the batch was out (pipelining) go first, then the parked ones.
      const { admission } = previous.context;
      this.#firstAfterClear = admission.batch.writes[0]?.request ?? admission.storage.requests[0];
    }
    const { inFlight } = context;
    if (
      phaseOf(snapshot) === "confirming" &&
      inFlight !== null &&
      !this.notAwaited.has(inFlight.batch.id)
    ) {
      this.notAwaited.set(
        inFlight.batch.id,
        notAwaitedWriters(inFlight.batch, context.slowWriters).length,
      );
    }
    // A batch just taken out for the disk (into a slot it was not in before).
    const before = new Set(
      [previous.context.inFlight, previous.context.ahead].map((slot) => slot?.batch.id),
    );
    for (const slot of [context.inFlight, context.ahead]) {
      if (slot === null || before.has(slot.batch.id)) continue;
      const first = this.#firstAfterClear;
      if (first !== undefined && slot.batch.writes[0]?.request.id !== first.id) {
        this.violation ??= `request ${first.id} did not start batch ${slot.batch.id}`;
      }
      this.#firstAfterClear = undefined;
    }
  }
}

/** A fresh store for one path: an adapter factory over an empty directory or disk. */
export interface FreshStore {
  readonly factory: AdapterFactory;
  readonly dir: string;
  /** Removes what the path left; called after it ran. */
  readonly remove?: () => Promise<void>;
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
  const config: SpoolConfig = modelConfig(path.variant);
  const base = await store.factory({
    dir: store.dir,
    segmentByteSize: config.segmentByteSize,
    pageByteSize: config.pageByteSize,
  });
  try {
    return await runOnAdapter(path, config, base, options.machine ?? synchronizerMachine);
  } finally {
    await base.close();
    await store.remove?.();
  }
}

async function runOnAdapter(
  path: ModelPath,
  config: SpoolConfig,
  base: FlushAdapter,
  machine: typeof synchronizerMachine,
): Promise<PathReport> {
  const adapter = new GatedAdapter(base);
  const timers = new ScriptedTimers();
  const writers = new ScriptedWriters(adapter);
  const watch = new SnapshotWatch(writers);
  let model: SynchronizerModelState = initialModelState(config);
  let nowMs = 0;
  const synchronizer = new Synchronizer({
    dir: "model",
    config,
    adapter,
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
      if (!AUTOMATIC_ACTIONS.has(action.type)) {
        nowMs = Math.max(nowMs, "atMs" in event ? event.atMs : nowMs);
        await stimulate(action, event, { adapter, timers, writers, synchronizer, watch, model });
      }
    } catch (error) {
      throw fail(error instanceof Error ? error.message : String(error));
    }
    model = next;
    const expected = abstractState(model.snapshot);
    if (expectedTrace.at(-1) !== expected) expectedTrace.push(expected);
    // Automatic actions happen inside the runtime's previous turn: check after the last one.
    if (AUTOMATIC_ACTIONS.has(path.actions[at + 1]?.type ?? "close")) continue;
    try {
      await until(
        () => abstractState(real()) === expected,
        () => `the runtime in ${abstractState(real())}, the model in ${expected}`,
      );
    } catch (error) {
      throw fail(error instanceof Error ? error.message : String(error));
    }
    const violation = writers.violation ?? watch.violation;
    if (violation !== undefined) throw fail(violation);
  }
  const last = path.actions.length;
  if (watch.trace.join("\n") !== expectedTrace.join("\n")) {
    throw new PathFailed(path, last, `trace differs:\n${watch.trace.join("\n")}`);
  }
  try {
    checkEnd(real(), writers);
    const recordsReadBack = await readBack(base, writers);
    return { steps, trace: watch.trace, recordsReadBack };
  } catch (error) {
    throw new PathFailed(path, last, error instanceof Error ? error.message : String(error));
  }
}

/**
 * Lets through every flush the in-flight batch needs, oldest first and one at a time, until
 * the runtime has heard that it is written.
 */
async function releaseFlushes(adapter: GatedAdapter, synchronizer: Synchronizer): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  // A batch whose writers are all slow clears as soon as it is written, and the machine may be
  // back on the disk with the next one at once: done when the in-flight batch changed too.
  const inFlight = () => synchronizer.actor.getSnapshot().context.inFlight?.batch.id;
  const writtenOf = inFlight();
  const onDisk = () =>
    ["writing", "writingAhead"].includes(synchronizer.state()) && inFlight() === writtenOf;
  while (onDisk()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the flush");
    adapter.held("flush")[0]?.go();
    await nextTurn();
  }
}

/** The gate a disk action opens or fails: the map, the write call, or a flush. */
async function gateFor(
  action: SynchronizerAction["type"],
  model: SynchronizerSnapshot,
  adapter: GatedAdapter,
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
    const held = adapter.held(operation);
    return ahead ? held.at(-1) : held[0];
  };
  await until(
    () => pick() !== undefined,
    () => `the ${operation} call`,
  );
  return pick()!;
}

interface Rig {
  readonly adapter: GatedAdapter;
  readonly timers: ScriptedTimers;
  readonly writers: ScriptedWriters;
  readonly synchronizer: Synchronizer;
  readonly watch: SnapshotWatch;
  readonly model: SynchronizerModelState;
}

/** Makes the runtime take `action`, the way the outside world would. */
async function stimulate(action: SynchronizerAction, event: ModelEvent, rig: Rig) {
  const { adapter, timers, writers, synchronizer, watch, model } = rig;
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
      (await gateFor(action.type, model.snapshot, adapter)).go();
      return;
    case "disk.done.ahead": {
      // The machine never asked about its bytes: the write call returns, then its flush ends.
      const flushesHeld = adapter.held("flush").length;
      (await gateFor(action.type, model.snapshot, adapter)).go();
      await until(
        () => adapter.held("flush").length > flushesHeld,
        () => "the flush of the batch written ahead",
      );
      adapter.held("flush").at(-1)!.go();
      return;
    }
    case "disk.fail":
    case "disk.fail.ahead":
      if ("error" in event) (await gateFor(action.type, model.snapshot, adapter)).fail(event.error);
      return;
    case "disk.done":
      if (phaseOf(model.snapshot) === "mapping") {
        (await gateFor(action.type, model.snapshot, adapter)).go();
        return;
      }
      // Unasked, the bytes' handover is no event: the write call returns, then the flushes.
      if (!(model.snapshot.context.inFlight?.submitted ?? true)) {
        (await gateFor(action.type, model.snapshot, adapter)).go();
      }
      await releaseFlushes(adapter, synchronizer);
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

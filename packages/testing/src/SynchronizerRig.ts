/**
 * The world the harness (SynchronizerHarness.ts) runs the real synchronizer in: an adapter
 * whose maps, writes and flushes wait at gates the path opens or fails (GatedAdapter; a log's
 * appends wait at the same kind of gates in GatedLog.ts), timers that fire when the path says
 * so (ScriptedTimers), writers that confirm when the path says so and keep the book of what
 * each request was told (ScriptedWriters), and the checks on the runtime's snapshots
 * (SnapshotWatch).
 */

import {
  notAwaitedWriters,
  type Synchronizer,
  type SynchronizerSnapshot,
  type SynchronizerTimers,
  type TimerPurpose,
  type WriterEndpoint,
  type WrittenNotice,
} from "@spool/actors";
import type {
  byteOffset,
  FlushAdapter,
  FlushMode,
  PlacedWrite,
  Region,
  RequestId,
  SegmentNumber,
  WriteRequest,
  WriterId,
} from "@spool/core";
import { abstractState, MODEL_WRITERS, phaseOf } from "./SynchronizerModel.js";

// Long enough for a real disk's map, write and fdatasync; a correct runtime answers in well
// under a millisecond in memory.
export const SETTLE_TIMEOUT_MS = 5_000;

export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits, a turn at a time, until `holds`; throws naming `what` after SETTLE_TIMEOUT_MS. */
export async function until(holds: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await nextTurn();
  }
}

export interface Gate {
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
 * What a write confirmation must come after, on the store the path runs over: a flush that
 * covers the write on a disk, the log's acknowledgement (with the write's seq) on a log.
 */
export interface ConfirmationRule {
  /** Why `write` may not be confirmed by `notice` yet, or undefined when it may. */
  readonly unconfirmable: (write: PlacedWrite, notice: WrittenNotice) => string | undefined;
}

/**
 * Calls held at gates the path opens or fails, in the order the calls came: with pipelining,
 * the in-flight batch's flush and the batch written beside it are held at once.
 */
export class Gates {
  readonly gates: Gate[] = [];

  /** The held gates of one operation, oldest first. */
  held(operation: Gate["operation"]): Gate[] {
    return this.gates.filter((gate) => gate.operation === operation);
  }

  /** Holds a call: `run` starts when its gate opens; a failed gate rejects with its error. */
  protected hold<T>(operation: Gate["operation"], run: () => Promise<T>): Promise<T> {
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
}

/** The adapter the runtime sees: the real one, with each map, write and flush held at a gate. */
export class GatedAdapter extends Gates implements FlushAdapter, ConfirmationRule {
  readonly name: string;
  // Each held flush answers for itself: the model lets either of two finish or fail first.
  readonly concurrentFlushes = true;
  readonly flushes: FlushDone[] = [];
  readonly #base: FlushAdapter;

  constructor(base: FlushAdapter) {
    super();
    this.#base = base;
    this.name = `gated ${base.name}`;
  }

  /** A disk confirms a write once a flush of its mode (or stronger) covered it. */
  readonly unconfirmable = (write: PlacedWrite, notice: WrittenNotice): string | undefined => {
    if (notice.replicas !== null) return `request ${write.request.id} confirmed as replicated`;
    const end = write.offset + write.byteSize;
    const covered = this.flushes.some(
      (flush) =>
        flush.segment === write.segment &&
        flush.from <= write.offset &&
        end <= flush.to &&
        (notice.level === "async" || flush.mode === "sync"),
    );
    return covered ? undefined : `request ${write.request.id} confirmed before a flush covered it`;
  };

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
    return this.hold("map", () => this.#base.map(segment));
  }
  stage(region: Region) {
    return this.#base.stage(region);
  }
  write(region: Region) {
    return this.hold("write", () => this.#base.write(region));
  }
  async flush(region: Region, mode: FlushMode) {
    await this.hold("flush", () => this.#base.flush(region, mode));
    const from = region.offset;
    this.flushes.push({ segment: region.segment, from, to: from + region.byteSize, mode });
  }
  read(segment: SegmentNumber, offset: ReturnType<typeof byteOffset>, size: Region["byteSize"]) {
    return this.#base.read(segment, offset, size);
  }
  removeSegment(segment: SegmentNumber) {
    return this.#base.removeSegment(segment);
  }
  recycleSegment(segment: SegmentNumber) {
    return this.#base.recycleSegment?.(segment) ?? this.#base.removeSegment(segment);
  }
  segmentsPrepared() {
    return this.#base.segmentsPrepared?.() ?? { zeroFilled: 0, recycled: 0 };
  }
  close() {
    return this.#base.close();
  }
}

export interface ArmedTimer {
  readonly ms: number;
  readonly fire: () => void;
  readonly purpose: TimerPurpose | undefined;
  cancelled: boolean;
}

/** Timers that fire only when the path says so. */
export class ScriptedTimers implements SynchronizerTimers {
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

export interface Answer {
  readonly kind: "written" | "failed";
  readonly seq?: number;
  readonly segment?: SegmentNumber;
  readonly offset?: number;
}

/** Scripted writers and the book of what each request was told. */
export class ScriptedWriters {
  readonly answers = new Map<RequestId, Answer>();
  readonly sent = new Map<RequestId, WriteRequest>();
  /** Held confirmations of confirmation, per batch, in the order the notices came. */
  readonly confirmations = new Map<number, { writerId: WriterId; confirm: () => void }[]>();
  readonly confirmed = new Map<number, number>();
  readonly noticed = new Map<number, number>();
  violation: string | undefined;
  readonly #rule: ConfirmationRule;
  #synchronizer: Synchronizer | undefined;

  constructor(rule: ConfirmationRule) {
    this.#rule = rule;
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

  #endpoint(id: WriterId): WriterEndpoint {
    return {
      id,
      written: (notice, confirm) => {
        for (const write of notice.writes) {
          if (write.request.senderId !== id) this.#fail(`writer ${id} told of another's request`);
          const early = this.#rule.unconfirmable(write, notice);
          if (early !== undefined) this.#fail(early);
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
export class SnapshotWatch {
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

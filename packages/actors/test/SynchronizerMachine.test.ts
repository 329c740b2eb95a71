import { setImmediate as settled } from "node:timers/promises";
import {
  type AppendError,
  type BatchId,
  byteOffset,
  FlushFailed,
  type RequestId,
  resolveConfig,
  type SegmentNumber,
  type SpoolConfig,
  segmentNumber,
  seq,
  type WriteRequest,
  writerId,
} from "@spool/core";
import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, transition } from "xstate";
import {
  type CourierEvent,
  type FlusherEvent,
  type SynchronizerEvent,
  synchronizerMachine,
} from "../src/machines/SynchronizerMachine.js";
import type {
  ConfirmJob,
  FlushJob,
  SynchronizerServices,
} from "../src/machines/SynchronizerServices.js";
import { SynchronizerCounters } from "../src/synchronizer/SynchronizerStats.js";

const request = (id: number, writer = 1): WriteRequest => ({
  id: id as RequestId,
  writerId: writerId(writer),
  senderId: writerId(writer),
  payload: new Uint8Array(100),
  durability: "flushed",
});

const ids = (requests: readonly WriteRequest[]) => requests.map((r) => r.id);
const batchIds = (input: { readonly batch: FlushJob["batch"] }) =>
  input.batch.writes.map((w) => w.request.id);

/**
 * xstate's clock for the machine's `after` delay, fired by hand: the test sees each timer armed
 * and cleared, and a cleared timer can no longer fire.
 */
class ScriptedClock {
  readonly #armed = new Map<number, { readonly fire: () => void; readonly ms: number }>();
  #nextId = 1;
  readonly cleared: number[] = [];

  setTimeout(fire: () => void, ms: number): number {
    const id = this.#nextId;
    this.#nextId += 1;
    this.#armed.set(id, { fire, ms });
    return id;
  }

  clearTimeout(id: number): void {
    if (this.#armed.delete(id)) this.cleared.push(id);
  }

  /** The timers armed and neither fired nor cleared, oldest first. */
  armed(): { readonly id: number; readonly ms: number }[] {
    return [...this.#armed].map(([id, { ms }]) => ({ id, ms }));
  }

  fire(id: number): void {
    const timer = this.#armed.get(id);
    if (timer === undefined) throw new Error(`timer ${id} is not armed`);
    this.#armed.delete(id);
    timer.fire();
  }
}

/** What the courier is asked to resend. */
interface ResendInput {
  readonly requests: readonly WriteRequest[];
}

/**
 * One job the machine gave an actor the test answers for: the job, the actor's `sendBack`, and
 * (for confirmations) whether the machine said the batch no longer waits.
 */
interface Scripted<I> {
  readonly input: I;
  readonly sendBack: (event: SynchronizerEvent) => void;
  stopped: boolean;
}

/**
 * Services for the machine's input: only the counters and the actions' calls (`reject`) are
 * reached, since the test provides every actor; the rest would be a mistake in the test.
 */
function stubServices(now: () => number) {
  const counters = new SynchronizerCounters();
  const rejected: { requests: readonly WriteRequest[]; failure: AppendError | null }[] = [];
  const notProvided = (name: string) => () => {
    throw new Error(`services.${name}: the test provides the actor that calls it`);
  };
  const services: SynchronizerServices = {
    clock: now,
    counters,
    map: notProvided("map"),
    write: notProvided("write"),
    confirm: notProvided("confirm"),
    resend: notProvided("resend"),
    reject: (requests, failure) => {
      rejected.push({ requests, failure });
    },
    fault: (where, error) => {
      throw new Error(`a fault in ${where}`, { cause: error });
    },
  };
  return { services, counters, rejected };
}

/**
 * The synchronizer machine with every actor provided as a scripted recorder, run by xstate on a
 * scripted clock: the test completes maps, writes and confirmations itself.
 * `unchecked` is applied after validation: a config with no timed trigger, which `resolveConfig`
 * refuses to users, still reaches the machine's wait for a request.
 */
function scripted(options: Record<string, unknown> = {}, unchecked: Partial<SpoolConfig> = {}) {
  let nowMs = 0;
  const { services, counters, rejected } = stubServices(() => nowMs);
  const maps: { segment: SegmentNumber; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const flushes: Scripted<FlushJob>[] = [];
  const confirmations: Scripted<ConfirmJob>[] = [];
  const resends: Scripted<ResendInput>[] = [];
  type Input = { readonly services: SynchronizerServices };
  const flusher = fromCallback<FlusherEvent, Input>(({ sendBack, receive }) => {
    receive((event) => {
      // The script reports submissions itself, asked or not (`submit` below).
      if (event.type === "flush") flushes.push({ input: event.job, sendBack, stopped: false });
    });
  });
  const courier = fromCallback<CourierEvent, Input>(({ sendBack, receive }) => {
    receive((event) => {
      if (event.type === "confirm") {
        confirmations.push({ input: event.job, sendBack, stopped: false });
      } else if (event.type === "settled") {
        const last = confirmations.at(-1);
        if (last !== undefined) last.stopped = true;
      } else {
        resends.push({ input: { requests: event.requests }, sendBack, stopped: false });
      }
    });
  });
  const machine = synchronizerMachine.provide({
    actors: {
      mapSegment: fromPromise<
        void,
        { readonly segment: SegmentNumber; readonly services: SynchronizerServices }
      >(
        ({ input }) =>
          new Promise<void>((resolve, reject) =>
            maps.push({ segment: input.segment, resolve, reject }),
          ),
      ),
      flusher,
      courier,
    },
  });
  const clock = new ScriptedClock();
  const cursor = { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) };
  const config = { ...resolveConfig(options), ...unchecked };
  const actor = createActor(machine, { input: { config, cursor, nowMs, services }, clock });
  actor.start();
  const state = () => actor.getSnapshot().value;
  const context = () => actor.getSnapshot().context;
  const send = (requests: WriteRequest[], atMs: number) => {
    nowMs = Math.max(nowMs, atMs);
    actor.send({ type: "sync.requests", requests, atMs });
  };
  /** The map in progress completes; its done event reaches the machine a microtask later. */
  const mapped = async () => {
    maps.at(-1)!.resolve();
    await settled();
  };
  const flushOf = (batchId: BatchId) => flushes.find((flush) => flush.input.batch.id === batchId)!;
  /** Batch `batchId`'s flush actor reports: bytes handed over, written and flushed, failed. */
  const submitted = (batchId = context().inFlight!.batch.id) =>
    flushOf(batchId).sendBack({ type: "disk.submitted", batchId });
  const written = (batchId = context().inFlight!.batch.id) =>
    flushOf(batchId).sendBack({ type: "disk.written", batchId, outcome: { level: "flushed" } });
  const failed = (batchId: BatchId) =>
    flushOf(batchId).sendBack({ type: "disk.failed", batchId, error: eio });
  /** The confirmations actor reports every writer of the in-flight batch confirmed. */
  const confirmed = (count = 1) => {
    const batchId = context().inFlight!.batch.id;
    confirmations
      .at(-1)!
      .sendBack({ type: "writer.confirmed", batchId, confirmed: count, vanished: 0 });
  };
  return {
    actor,
    clock,
    counters,
    rejected,
    maps,
    flushes,
    confirmations,
    resends,
    state,
    context,
    send,
    mapped,
    submitted,
    written,
    failed,
    confirmed,
  };
}

const eio = new FlushFailed({ file: "f", offset: 0, byteSize: 1, code: "EIO", cause: undefined });

describe("synchronizerMachine (claim 64)", () => {
  it("maps the region only when it is not mapped yet (claims 15, 68)", async () => {
    const machine = scripted();
    const { maps, flushes, state } = machine;
    machine.send([request(1)], 1);
    expect(state()).toBe("mapping");
    expect(maps.map((map) => map.segment)).toEqual([1]);
    expect(flushes).toEqual([]);
    await machine.mapped();
    expect(state()).toBe("writing");
    machine.written();
    expect(state()).toBe("confirming");
    machine.confirmed();
    expect(state()).toBe("receiving");
    machine.send([request(2)], 2);
    expect(state()).toBe("writing");
    expect(maps.length).toBe(1);
    expect(flushes.map(({ input }) => batchIds(input))).toEqual([[1], [2]]);
  });

  it("confirms to writers only after the write completed, and clears only after every confirmation", async () => {
    const machine = scripted();
    const { confirmations, state } = machine;
    machine.send([request(1, 1), request(2, 2)], 1);
    await machine.mapped();
    expect(confirmations).toEqual([]);
    machine.written();
    expect(confirmations.map(({ input }) => [batchIds(input), input.level])).toEqual([
      [[1, 2], "flushed"],
    ]);
    expect(state()).toBe("confirming");
    machine.confirmed(1);
    expect(state()).toBe("confirming");
    machine.confirmed(1);
    expect(state()).toBe("receiving");
    // Every confirmation came: the courier needs no word to stop waiting for this batch.
    expect(confirmations[0]!.stopped).toBe(false);
  });

  it("parks requests that arrive while a batch is written and takes them into the next batch (claims 16, 65)", async () => {
    const machine = scripted({ pipelineSplitByteSize: null });
    const { flushes, state, context } = machine;
    machine.send([request(1)], 1);
    await machine.mapped();
    machine.send([request(2), request(3)], 2);
    expect(ids(context().admission.storage.requests)).toEqual([2, 3]);
    machine.written();
    machine.confirmed();
    expect(state()).toBe("writing");
    expect(batchIds(flushes.at(-1)!.input)).toEqual([2, 3]);
  });

  it("clears after a confirmation timeout and counts the failed confirmation", async () => {
    const machine = scripted();
    machine.send([request(1)], 1);
    await machine.mapped();
    machine.written();
    const batchId = machine.context().inFlight!.batch.id;
    machine.confirmations.at(-1)!.sendBack({ type: "writer.confirmTimedOut", batchId });
    expect(machine.state()).toBe("receiving");
    expect(machine.counters.read().confirmationsFailed).toBe(1);
  });

  /** A batch of writer 1's request 1, written: its confirmations actor runs. */
  async function confirmingFirstBatch(options: Record<string, unknown> = {}) {
    const machine = scripted(options);
    machine.send([request(1)], 1);
    await machine.mapped();
    machine.written();
    return machine;
  }

  /** Writer 1 misses the in-flight batch's confirmation deadline. */
  function missDeadline(machine: ReturnType<typeof scripted>): void {
    const batchId = machine.context().inFlight!.batch.id;
    machine.confirmations.at(-1)!.sendBack({
      type: "writer.confirmDeadline",
      batchId,
      late: [writerId(1)],
    });
  }

  it("clears a batch at its confirmation deadline, marking the late writer slow and counting its confirmation as owed", async () => {
    const machine = await confirmingFirstBatch();
    missDeadline(machine);
    expect(machine.state()).toBe("receiving");
    expect(machine.context().slowWriters).toEqual([{ writerId: writerId(1), outstanding: 1 }]);
    const stats = machine.counters.read();
    expect(stats.writersMarkedSlow).toBe(1);
    expect(stats.confirmationsFailed).toBe(0);
  });

  it("does not wait for a slow writer's confirmation in later batches", async () => {
    const machine = await confirmingFirstBatch();
    missDeadline(machine);
    machine.send([request(2)], 2);
    machine.written();
    expect(machine.state()).toBe("confirming");
    expect(machine.context().confirmationsPending).toBe(0);
    expect(machine.confirmations.at(-1)!.input.notAwaited).toEqual([writerId(1)]);
    expect(machine.context().slowWriters[0]?.outstanding).toBe(2);
  });

  it("counts a slow writer's late confirmation where it rests, and takes it back as timely once it owes none", async () => {
    const machine = await confirmingFirstBatch();
    missDeadline(machine);
    // The runtime sends it: the lapse clocks of owed confirmations are its own.
    machine.actor.send(lateConfirmation);
    expect(machine.state()).toBe("receiving");
    expect(machine.context().slowWriters).toEqual([]);
    const stats = machine.counters.read();
    expect(stats.confirmationsLate).toBe(1);
    expect(stats.confirmationsReceived).toBe(1);
  });

  /** A machine whose writer 1 missed its first batch's deadline and owes that confirmation. */
  async function withSlowWriter(options: Record<string, unknown> = {}) {
    const machine = await confirmingFirstBatch(options);
    missDeadline(machine);
    return machine;
  }
  const lateConfirmation = {
    type: "writer.lateConfirmed",
    writerId: writerId(1),
    confirmed: 1,
    lapsed: 0,
  } as const;

  it("counts a slow writer's late confirmation while it notifies skipped writers", async () => {
    // One slot of temporary storage: the second request parked during a write is skipped.
    const machine = await withSlowWriter({
      pipelineSplitByteSize: null,
      temporaryStorageCountMax: 1,
    });
    const { state, context } = machine;
    machine.send([request(2)], 2);
    expect(state()).toBe("writing");
    machine.send([request(3), request(4)], 3);
    machine.written();
    // Its only writer is slow: the batch awaits nobody, and the runtime reports that at once.
    machine.confirmed(0);
    expect(state()).toBe("notifyingSkipped");
    expect(machine.resends.map(({ input }) => ids(input.requests))).toEqual([[4]]);
    expect(context().slowWriters).toEqual([{ writerId: writerId(1), outstanding: 2 }]);
    machine.actor.send(lateConfirmation);
    expect(state()).toBe("notifyingSkipped");
    expect(context().slowWriters).toEqual([{ writerId: writerId(1), outstanding: 1 }]);
    expect(machine.counters.read().confirmationsLate).toBe(1);
  });

  it("counts a slow writer's late confirmation once broken, and takes it back as timely", async () => {
    const machine = await withSlowWriter();
    machine.send([request(2)], 2);
    machine.failed(machine.context().inFlight!.batch.id);
    expect(machine.state()).toBe("broken");
    machine.actor.send(lateConfirmation);
    expect(machine.state()).toBe("broken");
    expect(machine.context().slowWriters).toEqual([]);
    expect(machine.counters.read().confirmationsLate).toBe(1);
  });

  it("takes a late confirmation in every state where it rests, staying there and starting nothing", async () => {
    const machine = await withSlowWriter();
    const owing = machine.context();
    // The resting states: every one but the flowchart's diamonds, which `always` leaves at once.
    // `closed` is final: the actor is done and takes no event (the runtime stops the clocks of
    // owed confirmations then), so it is not among them.
    const resting = Object.entries(synchronizerMachine.root.states)
      .filter(([, node]) => node.meta?.choice !== true && node.type !== "final")
      .map(([name]) => name);
    expect(resting).toEqual([
      "receiving",
      "waitingForTrigger",
      "waitingForRequest",
      "mapping",
      "writing",
      "writingAhead",
      "confirming",
      "notifyingSkipped",
      "broken",
    ]);
    for (const phase of resting) {
      const snapshot = synchronizerMachine.resolveState({ value: phase, context: owing });
      const [next, actions] = transition(synchronizerMachine, snapshot, lateConfirmation);
      expect({ phase: next.value, slowWriters: next.context.slowWriters }).toEqual({
        phase,
        slowWriters: [],
      });
      // No actor started or stopped, no delay armed or cancelled: only the count was taken.
      expect(actions).toEqual([]);
    }
    expect(machine.counters.read().confirmationsLate).toBe(resting.length);
  });

  it("waits for a timed trigger instead of flushing when the idle trigger is off (claim 67)", () => {
    const machine = scripted({ idleTimeMsMax: null, gatherTimeMsMax: 5 });
    machine.send([request(1)], 1);
    expect(machine.state()).toBe("waitingForTrigger");
    expect(machine.context().decision).toEqual({ flush: false, wakeInMs: 5 });
    expect(machine.clock.armed().map(({ ms }) => ms)).toEqual([5]);
  });

  it("flushes when its delay fires, having cancelled the delay armed for an earlier wait (claims 10, 67)", () => {
    const machine = scripted({ idleTimeMsMax: null, gatherTimeMsMax: 5 });
    const { clock, state, context } = machine;
    machine.send([request(1)], 1);
    const [first] = clock.armed();
    machine.send([request(2)], 2);
    expect(state()).toBe("waitingForTrigger");
    // Leaving the wait cancelled its delay: the earlier wait's timer can never fire.
    expect(clock.cleared).toEqual([first!.id]);
    // The gather time counts from the batch's first request: 4 ms left at 2 ms.
    const armed = clock.armed();
    expect(armed.map(({ ms }) => ms)).toEqual([4]);
    expect(machine.flushes).toEqual([]);
    expect(machine.maps).toEqual([]);
    // The current one fires: the gather time has passed, the batch goes out.
    clock.fire(armed[0]!.id);
    expect(state()).toBe("mapping");
    expect(context().inFlight?.reason).toBe("maxGatherTime");
    expect(context().inFlight?.batch.writes.map((w) => w.request.id)).toEqual([1, 2]);
    expect(clock.armed()).toEqual([]);
  });

  it("ignores an event its state does not list, as a statechart would", () => {
    const { actor } = scripted();
    const before = actor.getSnapshot();
    const event = {
      type: "disk.written",
      batchId: before.context.admission.batch.id,
      outcome: { level: "flushed" },
    } as const;
    expect(before.can(event)).toBe(false);
    actor.send(event);
    expect(actor.getSnapshot().value).toBe("receiving");
    expect(actor.getSnapshot().context).toBe(before.context);
    expect(Object.keys(synchronizerMachine.root.states.receiving!.on)).not.toContain(
      "disk.written",
    );
  });

  it("flushes when the batch reaches its request count (claim 9)", () => {
    const machine = scripted({ batchCountMax: 2 }, { idleTimeMsMax: null, gatherTimeMsMax: null });
    machine.send([request(1)], 1);
    expect(machine.state()).toBe("waitingForRequest");
    // No timed trigger: nothing is armed while it waits.
    expect(machine.clock.armed()).toEqual([]);
    machine.send([request(2)], 2);
    expect(machine.state()).toBe("mapping");
    expect(machine.context().inFlight?.reason).toBe("maxCount");
  });

  it("rejects every pending request after a failed flush and takes no more", async () => {
    const machine = scripted();
    const { rejected, state } = machine;
    machine.send([request(1)], 1);
    await machine.mapped();
    machine.send([request(2)], 2);
    machine.failed(machine.context().inFlight!.batch.id);
    expect(state()).toBe("broken");
    expect(rejected.map(({ requests }) => ids(requests))).toEqual([[1, 2]]);
    expect(rejected[0]!.failure).toBe(eio);
    machine.send([request(3)], 3);
    expect(rejected.length).toBe(1);
    // Nothing more went to the disk.
    expect(machine.flushes.length).toBe(1);
  });

  it("closes on a failure when a close came while the batch was out", async () => {
    const machine = scripted();
    machine.send([request(1)], 1);
    await machine.mapped();
    machine.actor.send({ type: "sync.close", atMs: 2 });
    machine.failed(machine.context().inFlight!.batch.id);
    expect(machine.state()).toBe("closed");
    expect(machine.actor.getSnapshot().status).toBe("done");
  });

  it("drains on close: flushes what it holds, then stops", async () => {
    const machine = scripted({}, { idleTimeMsMax: null, gatherTimeMsMax: null });
    machine.send([request(1)], 1);
    expect(machine.state()).toBe("waitingForRequest");
    machine.actor.send({ type: "sync.close", atMs: 2 });
    expect(machine.context().inFlight?.reason).toBe("close");
    await machine.mapped();
    machine.written();
    machine.confirmed();
    expect(machine.state()).toBe("closed");
    expect(machine.actor.getSnapshot().status).toBe("done");
  });
});

describe("synchronizerMachine pipelining", () => {
  it("writes a batch gathered during a flush beside it once the first's bytes are handed over, and confirms in order", async () => {
    const machine = scripted({ pipelineSplitByteSize: 200 });
    const { flushes, confirmations, state, context } = machine;
    machine.send([request(1)], 1);
    await machine.mapped();
    const head = context().inFlight!.batch.id;
    machine.send([request(2), request(3)], 2);
    // Gathered, not parked, and not written before the first batch's bytes are handed over.
    expect(context().admission.storage.requests).toEqual([]);
    expect(flushes.length).toBe(1);
    machine.submitted(head);
    expect(state()).toBe("writingAhead");
    expect(batchIds(flushes.at(-1)!.input)).toEqual([2, 3]);
    const ahead = context().ahead!.batch.id;
    // The second flush finishing first confirms nobody.
    machine.written(ahead);
    expect(confirmations).toEqual([]);
    machine.send([request(4)], 3);
    expect(ids(context().admission.storage.requests)).toEqual([4]);
    machine.written(head);
    expect(batchIds(confirmations.at(-1)!.input)).toEqual([1]);
    machine.confirmed();
    // Its turn: the batch written ahead is confirmed at once, its flush having finished.
    expect(state()).toBe("confirming");
    expect(batchIds(confirmations.at(-1)!.input)).toEqual([2, 3]);
    expect(context().durableThrough.offset).toBe(context().inFlight!.batch.endOffset);
    machine.confirmed();
    // Then the parked request starts the next batch.
    expect(batchIds(flushes.at(-1)!.input)).toEqual([4]);
    expect(machine.counters.read().flushes).toBe(2);
    expect(machine.counters.read().writtenAhead).toBe(1);
  });

  it("splits a batch of pipelineSplitByteSize or more gathered while the disk is idle", async () => {
    const machine = scripted({ pipelineSplitByteSize: 200 });
    machine.send([request(1), request(2), request(3)], 1);
    await machine.mapped();
    // 3 records of 144 bytes: the first half by bytes goes now, the rest once it is handed over.
    expect(batchIds(machine.flushes.at(-1)!.input)).toEqual([1, 2]);
    machine.submitted();
    expect(machine.state()).toBe("writingAhead");
    expect(batchIds(machine.flushes.at(-1)!.input)).toEqual([3]);
    expect(machine.counters.read().splits).toBe(1);
  });

  it("keeps one batch on the disk for async batches, small gatherings and without pipelining", async () => {
    for (const [options, durability] of [
      [{ pipelineSplitByteSize: null }, "flushed"],
      [{ pipelineSplitByteSize: 200 }, "async"],
      // 144 bytes gathered: less than half the split size, not worth a flush beside the first.
      [{ pipelineSplitByteSize: 400 }, "flushed"],
    ] as const) {
      const machine = scripted(options);
      machine.send([{ ...request(1), durability }], 1);
      await machine.mapped();
      machine.send([request(2)], 2);
      machine.submitted();
      expect(machine.state()).toBe("writing");
      expect(machine.flushes.length).toBe(1);
    }
  });

  it("fails the batch written ahead and what was gathered, never the batch already confirmed", async () => {
    const machine = scripted({ pipelineSplitByteSize: 200 });
    const { context } = machine;
    machine.send([request(1)], 1);
    await machine.mapped();
    const head = context().inFlight!.batch.id;
    machine.send([request(2)], 2);
    machine.submitted(head);
    const ahead = context().ahead!.batch.id;
    machine.written(head);
    machine.send([request(3)], 3);
    machine.failed(ahead);
    expect(machine.state()).toBe("broken");
    expect(machine.rejected.map(({ requests }) => ids(requests))).toEqual([[2, 3]]);
  });
});

import {
  byteOffset,
  FlushFailed,
  type RequestId,
  resolveConfig,
  type SpoolConfig,
  segmentNumber,
  seq,
  type WriteRequest,
  writerId,
} from "@spool/core";
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import {
  type CourierCommand,
  type DiskCommand,
  SYNCHRONIZER_STATES,
  type SynchronizerPhase,
  synchronizerLogic,
  synchronizerTransition,
} from "../src/SynchronizerMachine.js";

const request = (id: number): WriteRequest => ({
  id: id as RequestId,
  writerId: writerId(1),
  senderId: writerId(1),
  payload: new Uint8Array(100),
  durability: "flushed",
});

/**
 * A synchronizer whose commands are only recorded, by destination, as the runtime would see them.
 * `unchecked` is applied after validation: a config with no timed trigger, which `resolveConfig`
 * refuses to users, still reaches the machine's wait for a request.
 */
function scripted(options: Record<string, unknown> = {}, unchecked: Partial<SpoolConfig> = {}) {
  const disk: DiskCommand[] = [];
  const courier: CourierCommand[] = [];
  const cursor = { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) };
  const actor = createActor(synchronizerLogic, {
    input: { config: { ...resolveConfig(options), ...unchecked }, cursor, nowMs: 0 },
  });
  let seen = 0;
  actor.subscribe(({ context: { command, commandSeq } }) => {
    if (command === null || commandSeq === seen) return;
    expect(commandSeq).toBe(seen + 1);
    seen = commandSeq;
    if (command.type === "disk.map" || command.type === "disk.write") disk.push(command);
    else if (command.type !== "timer.wake") courier.push(command);
  });
  actor.start();
  const state = () => actor.getSnapshot().context.phase;
  return { actor, disk, courier, state };
}

const eio = new FlushFailed({ file: "f", offset: 0, byteSize: 1, code: "EIO", cause: undefined });

describe("synchronizerMachine (claim 64)", () => {
  it("maps the region only when it is not mapped yet (claims 15, 68)", () => {
    const { actor, disk, state } = scripted();
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    expect(state()).toBe("mapping");
    expect(disk.map((c) => c.type)).toEqual(["disk.map"]);
    actor.send({ type: "disk.mapped" });
    expect(state()).toBe("writing");
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    expect(state()).toBe("confirming");
    const batchId = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmed", batchId, confirmed: 1, vanished: 0 });
    expect(state()).toBe("receiving");
    actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
    expect(state()).toBe("writing");
    expect(disk.map((c) => c.type)).toEqual(["disk.map", "disk.write", "disk.write"]);
  });

  it("confirms to writers only after the write completed, and clears only after every confirmation", () => {
    const { actor, courier, state } = scripted();
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    expect(courier).toEqual([]);
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    expect(courier.map((c) => c.type)).toEqual(["courier.confirm"]);
    expect(state()).toBe("confirming");
  });

  it("parks requests that arrive while a batch is written and takes them into the next batch (claims 16, 65)", () => {
    const { actor, disk, state } = scripted({ pipelineSplitByteSize: null });
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "sync.requests", requests: [request(2), request(3)], atMs: 2 });
    expect(actor.getSnapshot().context.admission.storage.requests.map((r) => r.id)).toEqual([2, 3]);
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    const batchId = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmed", batchId, confirmed: 1, vanished: 0 });
    expect(state()).toBe("writing");
    const write = disk.at(-1);
    expect(write?.type === "disk.write" && write.batch.writes.map((w) => w.request.id)).toEqual([
      2, 3,
    ]);
  });

  it("clears after a confirmation timeout and counts the failed confirmation", () => {
    const { actor, state } = scripted();
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    const batchId = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmTimedOut", batchId });
    expect(state()).toBe("receiving");
    expect(actor.getSnapshot().context.stats.confirmationsFailed).toBe(1);
  });

  it("clears a batch at its confirmation deadline, marking the late writer slow and counting its confirmation as owed", () => {
    const { actor, state } = scripted();
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    const batchId = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmDeadline", batchId, late: [writerId(1)] });
    expect(state()).toBe("receiving");
    const { slowWriters, stats } = actor.getSnapshot().context;
    expect(slowWriters).toEqual([{ writerId: writerId(1), outstanding: 1 }]);
    expect(stats.writersMarkedSlow).toBe(1);
    expect(stats.confirmationsFailed).toBe(0);
  });

  it("does not wait for a slow writer's confirmation in later batches", () => {
    const { actor, courier, state } = scripted();
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    const first = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmDeadline", batchId: first, late: [writerId(1)] });
    actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    expect(state()).toBe("confirming");
    expect(actor.getSnapshot().context.confirmationsPending).toBe(0);
    expect(courier.at(-1)).toMatchObject({ type: "courier.confirm", notAwaited: [writerId(1)] });
    expect(actor.getSnapshot().context.slowWriters[0]?.outstanding).toBe(2);
  });

  it("counts a slow writer's late confirmation where it rests, and takes it back as timely once it owes none", () => {
    const { actor, state } = scripted();
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    const batchId = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmDeadline", batchId, late: [writerId(1)] });
    const late = { type: "writer.lateConfirmed", writerId: writerId(1) } as const;
    actor.send({ ...late, confirmed: 1, lapsed: 0 });
    expect(state()).toBe("receiving");
    const { slowWriters, stats } = actor.getSnapshot().context;
    expect(slowWriters).toEqual([]);
    expect(stats.confirmationsLate).toBe(1);
    expect(stats.confirmationsReceived).toBe(1);
  });

  /** A machine whose writer 1 missed its first batch's deadline and owes that confirmation. */
  function withSlowWriter(options: Record<string, unknown> = {}) {
    const machine = scripted(options);
    const { actor } = machine;
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    const batchId = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmDeadline", batchId, late: [writerId(1)] });
    return machine;
  }
  const lateConfirmation = {
    type: "writer.lateConfirmed",
    writerId: writerId(1),
    confirmed: 1,
    lapsed: 0,
  } as const;

  it("counts a slow writer's late confirmation while it notifies skipped writers", () => {
    // One slot of temporary storage: the second request parked during a write is skipped.
    const { actor, state } = withSlowWriter({
      pipelineSplitByteSize: null,
      temporaryStorageCountMax: 1,
    });
    actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
    expect(state()).toBe("writing");
    actor.send({ type: "sync.requests", requests: [request(3), request(4)], atMs: 3 });
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    // Its only writer is slow: the batch awaits nobody, and the runtime reports that at once.
    const batchId = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmed", batchId, confirmed: 0, vanished: 0 });
    expect(state()).toBe("notifyingSkipped");
    expect(actor.getSnapshot().context.slowWriters).toEqual([
      { writerId: writerId(1), outstanding: 2 },
    ]);
    actor.send(lateConfirmation);
    expect(state()).toBe("notifyingSkipped");
    expect(actor.getSnapshot().context.slowWriters).toEqual([
      { writerId: writerId(1), outstanding: 1 },
    ]);
    expect(actor.getSnapshot().context.stats.confirmationsLate).toBe(1);
  });

  it("counts a slow writer's late confirmation once broken, and takes it back as timely", () => {
    const { actor, state } = withSlowWriter();
    actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
    actor.send({ type: "disk.failed", error: eio });
    expect(state()).toBe("broken");
    actor.send(lateConfirmation);
    expect(state()).toBe("broken");
    expect(actor.getSnapshot().context.slowWriters).toEqual([]);
    expect(actor.getSnapshot().context.stats.confirmationsLate).toBe(1);
  });

  it("takes a late confirmation in every state, where it is and issuing no command", () => {
    const { actor } = withSlowWriter();
    const owing = actor.getSnapshot().context;
    for (const phase of Object.keys(SYNCHRONIZER_STATES) as SynchronizerPhase[]) {
      const next = synchronizerTransition({ ...owing, phase }, lateConfirmation);
      expect({ phase: next.phase, slowWriters: next.slowWriters }).toEqual({
        phase,
        slowWriters: [],
      });
      expect(next.commandSeq).toBe(owing.commandSeq);
    }
  });

  it("waits for a timed trigger instead of flushing when the idle trigger is off (claim 67)", () => {
    const { actor, state } = scripted({ idleTimeMsMax: null, gatherTimeMsMax: 5 });
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    expect(state()).toBe("waitingForTrigger");
    expect(actor.getSnapshot().context.wakeInMs).toBe(5);
    expect(actor.getSnapshot().context.command).toEqual({ type: "timer.wake", inMs: 5 });
  });

  it("flushes when its wake fires, and ignores a wake armed for an earlier wait (claims 10, 67)", () => {
    const { actor, disk, state } = scripted({ idleTimeMsMax: null, gatherTimeMsMax: 5 });
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    const firstWake = actor.getSnapshot().context.commandSeq;
    actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
    expect(state()).toBe("waitingForTrigger");
    const secondWake = actor.getSnapshot().context.commandSeq;
    expect(secondWake).toBe(firstWake + 1);
    // The first timer fires late: it belongs to a wait that has passed and moves nothing.
    actor.send({ type: "sync.wake", commandSeq: firstWake, atMs: 9 });
    expect(state()).toBe("waitingForTrigger");
    expect(disk).toEqual([]);
    // The current one fires: the gather time has passed, the batch goes out.
    actor.send({ type: "sync.wake", commandSeq: secondWake, atMs: 6 });
    expect(state()).toBe("mapping");
    expect(actor.getSnapshot().context.flushReason).toBe("maxGatherTime");
    expect(actor.getSnapshot().context.inFlight?.writes.map((w) => w.request.id)).toEqual([1, 2]);
  });

  it("ignores an event its state does not list, as a statechart would", () => {
    const { actor } = scripted();
    const before = actor.getSnapshot().context;
    actor.send({ type: "disk.mapped" });
    expect(actor.getSnapshot().context).toBe(before);
    expect(Object.keys(SYNCHRONIZER_STATES.receiving)).not.toContain("disk.mapped");
  });

  it("flushes when the batch reaches its request count (claim 9)", () => {
    const { actor, state } = scripted(
      { batchCountMax: 2 },
      { idleTimeMsMax: null, gatherTimeMsMax: null },
    );
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    expect(state()).toBe("waitingForRequest");
    actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
    expect(state()).toBe("mapping");
    expect(actor.getSnapshot().context.flushReason).toBe("maxCount");
  });

  it("rejects every pending request after a failed flush and takes no more", () => {
    const { actor, courier, state } = scripted();
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
    actor.send({ type: "disk.failed", error: eio });
    expect(state()).toBe("broken");
    const reject = courier.at(-1);
    expect(reject?.type === "courier.reject" && reject.requests.map((r) => r.id)).toEqual([1, 2]);
    actor.send({ type: "sync.requests", requests: [request(3)], atMs: 3 });
    expect(courier.at(-1)).toBe(reject);
  });

  it("closes on a failure when a close came while the batch was out", () => {
    const { actor, state } = scripted();
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "sync.close", atMs: 2 });
    actor.send({ type: "disk.failed", error: eio });
    expect(state()).toBe("closed");
  });

  it("drains on close: flushes what it holds, then stops", () => {
    const { actor, state } = scripted({}, { idleTimeMsMax: null, gatherTimeMsMax: null });
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    expect(state()).toBe("waitingForRequest");
    actor.send({ type: "sync.close", atMs: 2 });
    expect(actor.getSnapshot().context.flushReason).toBe("close");
    actor.send({ type: "disk.mapped" });
    actor.send({ type: "disk.written", outcome: { level: "flushed" } });
    const batchId = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "writer.confirmed", batchId, confirmed: 1, vanished: 0 });
    expect(state()).toBe("closed");
  });
});

describe("synchronizerMachine pipelining", () => {
  const ids = (command: DiskCommand | CourierCommand | undefined) =>
    command !== undefined && "batch" in command
      ? command.batch.writes.map((w) => w.request.id)
      : [];

  it("writes a batch gathered during a flush beside it once the first's bytes are handed over, and confirms in order", () => {
    const { actor, disk, courier, state } = scripted({ pipelineSplitByteSize: 200 });
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    const head = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "sync.requests", requests: [request(2), request(3)], atMs: 2 });
    // Gathered, not parked, and not written before the first batch's bytes are handed over.
    expect(actor.getSnapshot().context.admission.storage.requests).toEqual([]);
    expect(disk.length).toBe(2);
    actor.send({ type: "disk.submitted", batchId: head });
    expect(state()).toBe("writingAhead");
    expect(ids(disk.at(-1))).toEqual([2, 3]);
    const ahead = actor.getSnapshot().context.ahead!.id;
    // The second flush finishing first confirms nobody.
    actor.send({ type: "disk.written", batchId: ahead, outcome: { level: "flushed" } });
    expect(courier).toEqual([]);
    actor.send({ type: "sync.requests", requests: [request(4)], atMs: 3 });
    expect(actor.getSnapshot().context.admission.storage.requests.map((r) => r.id)).toEqual([4]);
    actor.send({ type: "disk.written", batchId: head, outcome: { level: "flushed" } });
    expect(ids(courier.at(-1))).toEqual([1]);
    actor.send({ type: "writer.confirmed", batchId: head, confirmed: 1, vanished: 0 });
    // Its turn: the batch written ahead is confirmed at once, its flush having finished.
    expect(state()).toBe("confirming");
    expect(ids(courier.at(-1))).toEqual([2, 3]);
    expect(actor.getSnapshot().context.durableThrough.offset).toBe(
      actor.getSnapshot().context.inFlight!.endOffset,
    );
    actor.send({ type: "writer.confirmed", batchId: ahead, confirmed: 1, vanished: 0 });
    // Then the parked request starts the next batch.
    expect(ids(disk.at(-1))).toEqual([4]);
    expect(actor.getSnapshot().context.stats.flushes).toBe(2);
  });

  it("splits a batch of pipelineSplitByteSize or more gathered while the disk is idle", () => {
    const { actor, disk, state } = scripted({ pipelineSplitByteSize: 200 });
    actor.send({ type: "sync.requests", requests: [request(1), request(2), request(3)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    // 3 records of 144 bytes: the first half by bytes goes now, the rest once it is handed over.
    expect(ids(disk.at(-1))).toEqual([1, 2]);
    actor.send({ type: "disk.submitted", batchId: actor.getSnapshot().context.inFlight!.id });
    expect(state()).toBe("writingAhead");
    expect(ids(disk.at(-1))).toEqual([3]);
  });

  it("keeps one batch on the disk for async batches, small gatherings and without pipelining", () => {
    for (const [options, payload] of [
      [{ pipelineSplitByteSize: null }, "flushed"],
      [{ pipelineSplitByteSize: 200 }, "async"],
      // 144 bytes gathered: less than half the split size, not worth a flush beside the first.
      [{ pipelineSplitByteSize: 400 }, "flushed"],
    ] as const) {
      const { actor, disk, state } = scripted(options);
      const first = { ...request(1), durability: payload };
      actor.send({ type: "sync.requests", requests: [first], atMs: 1 });
      actor.send({ type: "disk.mapped" });
      actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
      actor.send({ type: "disk.submitted", batchId: actor.getSnapshot().context.inFlight!.id });
      expect(state()).toBe("writing");
      expect(disk.length).toBe(2);
    }
  });

  it("fails the batch written ahead and what was gathered, never the batch already confirmed", () => {
    const { actor, courier, state } = scripted({ pipelineSplitByteSize: 200 });
    actor.send({ type: "sync.requests", requests: [request(1)], atMs: 1 });
    actor.send({ type: "disk.mapped" });
    const head = actor.getSnapshot().context.inFlight!.id;
    actor.send({ type: "sync.requests", requests: [request(2)], atMs: 2 });
    actor.send({ type: "disk.submitted", batchId: head });
    actor.send({ type: "disk.written", batchId: head, outcome: { level: "flushed" } });
    actor.send({ type: "sync.requests", requests: [request(3)], atMs: 3 });
    actor.send({ type: "disk.failed", error: eio });
    expect(state()).toBe("broken");
    const reject = courier.at(-1);
    expect(reject?.type === "courier.reject" && reject.requests.map((r) => r.id)).toEqual([2, 3]);
  });
});

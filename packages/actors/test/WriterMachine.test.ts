import type { BatchId } from "@spool/core";
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { type WriterEmitted, writerLogic } from "../src/WriterMachine.js";

function started() {
  const actor = createActor(writerLogic);
  const effects: WriterEmitted["type"][] = [];
  actor.on("*", (event) => effects.push(event.type));
  actor.start();
  return { actor, effects };
}

describe("writerLogic (claim 34)", () => {
  it("acquires the lock, sends, releases on receipt, and confirms the write confirmation", () => {
    const { actor, effects } = started();
    actor.send({ type: "writer.append" });
    actor.send({ type: "lock.granted" });
    actor.send({ type: "sync.receipt", count: 3 });
    expect(actor.getSnapshot().context).toEqual({
      phase: "idle",
      groupsWaitingForLock: 0,
      awaitingWrite: 3,
    });
    actor.send({ type: "sync.written", batchId: 1 as BatchId, count: 3 });
    expect(effects).toEqual(["lock.acquire", "sync.request", "lock.release", "writer.confirmed"]);
    expect(actor.getSnapshot().context.awaitingWrite).toBe(0);
  });

  it("queues a second group while the lock is held and sends it after the release", () => {
    const { actor, effects } = started();
    actor.send({ type: "writer.append" });
    actor.send({ type: "writer.append" });
    expect(actor.getSnapshot().context.groupsWaitingForLock).toBe(1);
    actor.send({ type: "lock.granted" });
    actor.send({ type: "sync.receipt", count: 1 });
    expect(actor.getSnapshot().context.phase).toBe("acquiring");
    expect(effects).toEqual(["lock.acquire", "sync.request", "lock.release", "lock.acquire"]);
  });

  it("resends skipped requests through the lock (claim 66)", () => {
    const { actor, effects } = started();
    actor.send({ type: "writer.append" });
    actor.send({ type: "lock.granted" });
    actor.send({ type: "sync.receipt", count: 2 });
    actor.send({ type: "sync.resend", count: 2 });
    expect(actor.getSnapshot().context).toEqual({
      phase: "acquiring",
      groupsWaitingForLock: 0,
      awaitingWrite: 0,
    });
    expect(effects.at(-1)).toBe("lock.acquire");
  });

  it("refuses a receipt it did not ask for", () => {
    const { actor } = started();
    const errors: unknown[] = [];
    actor.subscribe({ error: (error) => errors.push(error) });
    actor.send({ type: "sync.receipt", count: 1 });
    expect(errors).toHaveLength(1);
    expect(actor.getSnapshot().status).toBe("error");
  });
});

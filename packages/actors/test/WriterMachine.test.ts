import { InvariantViolation, type WriteRequest } from "@spool/core";
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { type WriterGroup, writerMachine } from "../src/machines/WriterMachine.js";

// Effects recorded by name, as the runtime would carry them out.
function started() {
  const effects: string[] = [];
  const confirmed: number[] = [];
  const actor = createActor(
    writerMachine.provide({
      actions: {
        acquireLock: () => effects.push("lock.acquire"),
        sendGroup: (_, { group }) => effects.push(`sync.request(${group.length})`),
        releaseLock: () => effects.push("lock.release"),
        confirmWritten: (_, { confirm }) => {
          effects.push("writer.confirmed");
          confirm();
        },
      },
    }),
  );
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  return { actor, effects, confirmed, errors };
}

const group = (size: number): WriterGroup =>
  Array.from({ length: size }, (_, at) => ({ id: at + 1 }) as unknown as WriteRequest);

describe("writerMachine (claim 34)", () => {
  it("acquires the lock, sends, releases on receipt, and confirms the write confirmation", () => {
    const { actor, effects } = started();
    const sent = group(3);
    actor.send({ type: "writer.append", group: sent, lockTaken: false });
    actor.send({ type: "lock.granted" });
    actor.send({ type: "sync.receipt", group: sent });
    const { value, context } = actor.getSnapshot();
    expect(value).toBe("idle");
    expect(context).toEqual({ waiting: [], sending: undefined, awaitingWrite: 3 });
    let confirmations = 0;
    actor.send({ type: "sync.written", count: 3, confirm: () => confirmations++ });
    expect(effects).toEqual([
      "lock.acquire",
      "sync.request(3)",
      "lock.release",
      "writer.confirmed",
    ]);
    expect(confirmations).toBe(1);
    expect(actor.getSnapshot().context.awaitingWrite).toBe(0);
  });

  it("sends at once a group whose lock the runtime took as it arrived", () => {
    const { actor, effects } = started();
    const sent = group(2);
    actor.send({ type: "writer.append", group: sent, lockTaken: true });
    expect(actor.getSnapshot().value).toBe("sending");
    expect(actor.getSnapshot().context.sending).toBe(sent);
    actor.send({ type: "sync.receipt", group: sent });
    expect(actor.getSnapshot().value).toBe("idle");
    // No lock.acquire effect: the lock was held before the machine heard of the group.
    expect(effects).toEqual(["sync.request(2)", "lock.release"]);
  });

  it("refuses a lock taken for a group while another is on its way", () => {
    const { actor, errors } = started();
    actor.send({ type: "writer.append", group: group(1), lockTaken: false });
    actor.send({ type: "writer.append", group: group(1), lockTaken: true });
    expect(actor.getSnapshot().status).toBe("error");
    expect(errors.length).toBe(1);
  });

  it("holds the groups it carries by reference, not copies", () => {
    const { actor } = started();
    const [first, second] = [group(1), group(2)];
    actor.send({ type: "writer.append", group: first, lockTaken: false });
    actor.send({ type: "writer.append", group: second, lockTaken: false });
    expect(actor.getSnapshot().context.waiting[1]).toBe(second);
    actor.send({ type: "lock.granted" });
    expect(actor.getSnapshot().context.sending).toBe(first);
  });

  it("queues a second group while the lock is held and sends it after the release", () => {
    const { actor, effects } = started();
    const first = group(1);
    actor.send({ type: "writer.append", group: first, lockTaken: false });
    actor.send({ type: "writer.append", group: group(1), lockTaken: false });
    expect(actor.getSnapshot().context.waiting).toHaveLength(2);
    actor.send({ type: "lock.granted" });
    actor.send({ type: "sync.receipt", group: first });
    expect(actor.getSnapshot().value).toBe("acquiring");
    expect(effects).toEqual(["lock.acquire", "sync.request(1)", "lock.release", "lock.acquire"]);
  });

  it("resends skipped requests through the lock (claim 66)", () => {
    const { actor, effects } = started();
    const sent = group(2);
    actor.send({ type: "writer.append", group: sent, lockTaken: false });
    actor.send({ type: "lock.granted" });
    actor.send({ type: "sync.receipt", group: sent });
    const again = group(2);
    actor.send({ type: "sync.resend", group: again });
    const { value, context } = actor.getSnapshot();
    expect(value).toBe("acquiring");
    expect(context).toEqual({ waiting: [again], sending: undefined, awaitingWrite: 0 });
    expect(effects.at(-1)).toBe("lock.acquire");
  });

  it("puts a resent group ahead of the groups waiting for the lock (claim 66)", () => {
    const { actor } = started();
    const sent = group(1);
    actor.send({ type: "writer.append", group: sent, lockTaken: false });
    actor.send({ type: "lock.granted" });
    actor.send({ type: "sync.receipt", group: sent });
    const newer = group(1);
    actor.send({ type: "writer.append", group: newer, lockTaken: false });
    const again = group(1);
    actor.send({ type: "sync.resend", group: again });
    expect(actor.getSnapshot().context.waiting).toEqual([again, newer]);
  });

  it("refuses a receipt it did not ask for", () => {
    const { actor, errors } = started();
    actor.send({ type: "sync.receipt", group: group(1) });
    expect(errors).toHaveLength(1);
    expect(actor.getSnapshot().status).toBe("error");
  });

  it("refuses a receipt for a group it did not send", () => {
    const { actor, errors } = started();
    actor.send({ type: "writer.append", group: group(1), lockTaken: false });
    actor.send({ type: "lock.granted" });
    actor.send({ type: "sync.receipt", group: group(1) });
    expect(errors).toHaveLength(1);
    expect(actor.getSnapshot().status).toBe("error");
  });

  it("refuses a grant with nothing to send", () => {
    const { actor, errors } = started();
    actor.send({ type: "lock.granted" });
    expect(errors).toHaveLength(1);
    expect(actor.getSnapshot().status).toBe("error");
  });

  it("reports a protocol violation as a broken invariant, not an operating error", () => {
    const { actor, errors } = started();
    actor.send({ type: "lock.granted" });
    expect(errors[0]).toBeInstanceOf(InvariantViolation);
    expect(errors[0]).toMatchObject({ message: "writer: lock.granted nobody asked for" });
  });

  it("refuses a write confirmation for more requests than the synchronizer holds", () => {
    const { actor, errors } = started();
    actor.send({ type: "sync.written", count: 1, confirm: () => undefined });
    expect(errors).toHaveLength(1);
    expect(actor.getSnapshot().status).toBe("error");
  });

  it("names claim 34 in the meta of every state", () => {
    for (const node of Object.values(writerMachine.root.states)) {
      expect(node.meta?.claims).toContain(34);
      expect(node.description).toMatch(/Claim 34/);
    }
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ConsumerQueue,
  type IndexEntry,
  type MessageLocation,
  segmentNumber,
  seq,
} from "../src/index.js";
import { byteOffset } from "../src/Units.js";

const at = (n: number): MessageLocation => ({
  seq: seq(n),
  segment: segmentNumber(1),
  offset: byteOffset(n * 1064),
  payloadByteSize: 1024,
  enqueuedAtMs: 0,
});

function queueOf(count: number, maxAttempts = 3): ConsumerQueue {
  const queue = new ConsumerQueue(maxAttempts);
  for (let n = 1; n <= count; n++) queue.add(at(n), "queued", 0, 0);
  return queue;
}

describe("ConsumerQueue", () => {
  it("hands out ready messages in seq order, each once while leased", () => {
    const queue = queueOf(3);
    const taken = [queue.take(0, 100), queue.take(0, 100), queue.take(0, 100)];
    expect(taken.map((t) => t?.message.seq)).toEqual([1, 2, 3]);
    expect(taken.map((t) => t?.entry.info.state)).toEqual(["leased", "leased", "leased"]);
    expect(queue.take(0, 100)).toBeUndefined();
  });

  it("returns an expired lease to the queue and counts the attempt", () => {
    const queue = queueOf(1);
    expect(queue.take(0, 100)?.message.attempts).toBe(1);
    expect(queue.take(99, 100)).toBeUndefined();
    const again = queue.take(100, 100);
    expect(again?.message.seq).toBe(1);
    expect(again?.message.attempts).toBe(2);
  });

  it("counts a lease that ran out, and neither a retry that came due nor an answered lease", () => {
    const queue = queueOf(3);
    queue.take(0, 100); // seq 1: left to expire
    queue.take(0, 100); // seq 2: nacked, retried at 50
    queue.take(0, 100); // seq 3: acked
    queue.nack(seq(2), 0, 50);
    queue.ack(seq(3), 0);
    expect(queue.take(60, 100)?.message.seq).toBe(2);
    expect(queue.leasesExpired).toBe(0);
    expect(queue.take(100, 100)?.message.seq).toBe(1);
    expect(queue.leasesExpired).toBe(1);
  });

  it("acks only leased messages and forgets them", () => {
    const queue = queueOf(2);
    expect(queue.ack(seq(1), 0)).toBe("notLeased");
    queue.take(0, 100);
    const entry = queue.ack(seq(1), 5) as IndexEntry;
    expect(entry.info.state).toBe("done");
    expect(queue.get(seq(1))).toBeUndefined();
    expect(queue.ack(seq(1), 6)).toBe("unknown");
    expect(queue.depth).toBe(1);
  });

  it("refuses to ack, nack or purge a message never handed out as not leased, not as unknown", () => {
    const queue = new ConsumerQueue(3);
    for (let n = 1; n <= 2; n++) queue.addFresh(at(n));
    expect(queue.stateOf(2)).toBe("queued");
    expect(queue.ack(seq(2), 0)).toBe("notLeased");
    expect(queue.nack(seq(2), 0, 10)).toBe("notLeased");
    expect(queue.purge(seq(2), 0)).toBe("notLeased");
    expect(queue.ack(seq(3), 0)).toBe("unknown");
    expect(queue.depth).toBe(2);
  });

  it("honours retry delays and dead-letters a message when its attempts are used up", () => {
    const queue = queueOf(1, 2);
    queue.take(0, 100);
    expect((queue.nack(seq(1), 0, 50) as IndexEntry).info).toMatchObject({
      state: "retryWait",
      notBeforeMs: 50,
    });
    expect(queue.take(49, 100)).toBeUndefined();
    expect(queue.take(50, 100)?.message.attempts).toBe(2);
    expect((queue.nack(seq(1), 60, 50) as IndexEntry).info.state).toBe("dead");
    expect(queue.deadLetters().map((m) => m.seq)).toEqual([1]);
    expect(queue.take(1000, 100)).toBeUndefined();
    expect(queue.depth).toBe(0);
  });

  it("dead-letters, instead of delivering, a message whose lease expired on its last attempt", () => {
    const queue = queueOf(1, 1);
    queue.take(0, 10);
    const dead: IndexEntry[] = [];
    expect(queue.take(10, 10, dead)).toBeUndefined();
    expect(dead.map((entry) => [entry.index.seq, entry.info.state])).toEqual([[1, "dead"]]);
  });

  it("keeps FIFO by seq between never-delivered messages and ones coming back", () => {
    const queue = new ConsumerQueue(5);
    for (let n = 1; n <= 3; n++) queue.addFresh(at(n));
    expect(queue.depth).toBe(3);
    expect(queue.take(0, 100)?.message.seq).toBe(1);
    queue.nack(seq(1), 0, 0);
    // Seq 1 is ready again and goes before the fresh seq 2.
    expect(queue.take(0, 100)?.message).toMatchObject({ seq: 1, attempts: 2 });
    expect(queue.take(0, 100)?.message).toMatchObject({ seq: 2, attempts: 1 });
    queue.addFresh(at(4));
    expect([queue.take(0, 100)?.message.seq, queue.take(0, 100)?.message.seq]).toEqual([3, 4]);
    expect(queue.take(0, 100)).toBeUndefined();
    expect(queue.depth).toBe(4);
  });

  it("hands out a long backlog in order while it forgets the locations already handed out", () => {
    const queue = new ConsumerQueue(5);
    const count = 20_000;
    for (let n = 1; n <= count; n++) queue.addFresh(at(n));
    for (let n = 1; n <= count; n++) {
      const taken = queue.take(0, 1_000_000);
      expect(taken?.message.seq).toBe(n);
      expect(taken?.message.offset).toBe(n * 1064);
      queue.ack(seq(n), 0);
      if (n % 5000 === 0) queue.addFresh(at(count + n / 5000));
    }
    expect(queue.floor).toBe(count + 1);
    expect([1, 2, 3, 4].map(() => queue.take(0, 10)?.message.seq)).toEqual([
      count + 1,
      count + 2,
      count + 3,
      count + 4,
    ]);
  });

  it("skips, among records found on open, those whose entry says they were delivered", () => {
    const queue = new ConsumerQueue(5);
    queue.add(at(1), "done", 1, 0);
    queue.add(at(2), "empty", 0, 0);
    queue.add(at(3), "dead", 5, 0);
    queue.add(at(4), "empty", 0, 0);
    expect(queue.depth).toBe(2);
    expect([queue.take(0, 9)?.message.seq, queue.take(0, 9)?.message.seq]).toEqual([2, 4]);
    expect(queue.take(0, 9)).toBeUndefined();
  });

  it("restores a lease held at a crash as queued, keeping its attempts (at-least-once)", () => {
    const queue = new ConsumerQueue(5);
    queue.add(at(1), "leased", 2, 999);
    queue.add(at(2), "done", 1, 0);
    queue.add(at(3), "retryWait", 1, 500);
    expect(queue.take(0, 10_000)?.message).toMatchObject({ seq: 1, attempts: 3 });
    expect(queue.get(seq(2))).toBeUndefined();
    expect(queue.take(0, 10)).toBeUndefined();
    expect(queue.take(500, 10)?.message.seq).toBe(3);
  });

  it("delivers every message until acked, in seq order among the ready ones (property)", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("take" as const), advance: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant("ack" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("nack" as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(op, { maxLength: 200 }),
        (count, ops) => {
          const queue = queueOf(count, 1000);
          const acked = new Set<number>();
          const leased: number[] = [];
          let now = 0;
          for (const step of ops) {
            if (step.kind === "take") {
              now += step.advance;
              const taken = queue.take(now, 10);
              if (taken === undefined) continue;
              const seqTaken = taken.message.seq;
              expect(acked.has(seqTaken)).toBe(false);
              leased.push(seqTaken);
            } else if (leased.length > 0) {
              const [chosen] = leased.splice(step.pick % leased.length, 1);
              const outcome =
                step.kind === "ack"
                  ? queue.ack(seq(chosen!), now)
                  : queue.nack(seq(chosen!), now, 5);
              if (typeof outcome !== "string" && step.kind === "ack") acked.add(chosen!);
            }
          }
          // Drain: everything not acked comes back, each once, ascending within a drain pass.
          now += 1_000_000;
          const rest: number[] = [];
          for (let taken = queue.take(now, 10); taken; taken = queue.take(now, 10)) {
            rest.push(taken.message.seq);
          }
          expect(rest).toEqual([...rest].sort((a, b) => a - b));
          const all = [...acked, ...rest].sort((a, b) => a - b);
          expect(all).toEqual(Array.from({ length: count }, (_, i) => i + 1));
        },
      ),
    );
  });
});

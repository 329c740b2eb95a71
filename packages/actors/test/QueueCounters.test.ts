import { memoryAdapter } from "@spool/adapters";
import { describe, expect, it } from "vitest";
import { openSpool, type Spool } from "../src/index.js";

/** A clock a test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

async function appendAll(spool: Spool, messages: readonly string[]): Promise<void> {
  const writer = spool.writer();
  await Promise.all(messages.map((message) => writer.append(message)));
}

const counters = (spool: Spool) => {
  const { leases, acks, nacks, deadLettered, leasesExpired, leasesLost } = spool.stats();
  return { leases, acks, nacks, deadLettered, leasesExpired, leasesLost };
};

describe("stats: the consumers' counters", () => {
  it("count leases, acks, nacks and the nacks that made dead letters", async () => {
    const spool = await openSpool({ dir: "counted", adapter: memoryAdapter(), maxAttempts: 2 });
    await appendAll(spool, ["a", "b", "c"]);
    const [a, first, second] = await spool.takeMany(3);
    await spool.ack(a!.seq);
    await spool.nack(first!.seq); // b: retried
    await spool.nack(second!.seq); // c: retried
    const [b, c] = await spool.takeMany(2);
    await spool.ack(b!.seq);
    await spool.nack(c!.seq); // c's second attempt: a dead letter
    expect(counters(spool)).toEqual({
      leases: 5,
      acks: 2,
      nacks: 3,
      deadLettered: 1,
      leasesExpired: 0,
      leasesLost: 0,
    });
    await spool.close();
  });

  it("count a lease that ran out, and the take that dead-letters it on its last attempt", async () => {
    const clock = manualClock();
    const spool = await openSpool({
      dir: "expired",
      adapter: memoryAdapter(),
      clock: clock.now,
      maxAttempts: 1,
    });
    await appendAll(spool, ["a"]);
    expect((await spool.take({ leaseMs: 100 }))?.seq).toBe(1);
    clock.advance(100);
    // Its only attempt is used up: the take finds it due and makes it a dead letter instead,
    // durable (and counted) before the take resolves.
    expect(await spool.take()).toBeUndefined();
    expect(counters(spool)).toMatchObject({ leases: 1, leasesExpired: 1, deadLettered: 1 });
    expect(spool.messageState(1)).toBe("dead");
    await spool.close();
  });
});

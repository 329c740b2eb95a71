import { memoryAdapter } from "@spool/adapters";
import { DURATION_MS_MAX, InvalidArgument, NotLeased } from "@spool/core";
import { describe, expect, it } from "vitest";
import { connectSocketWriter, openSpool, type Spool } from "../src/index.js";

/** A spool holding `count` flushed messages, seqs 1..count. */
async function spoolWith(count: number): Promise<Spool> {
  const spool = await openSpool({ dir: "arguments", adapter: memoryAdapter(), maxAttempts: 2 });
  const writer = spool.writer();
  await Promise.all(Array.from({ length: count }, (_, i) => writer.append(`m${i + 1}`)));
  return spool;
}

/** The argument an `InvalidArgument` names, or the error itself when it is not one. */
async function refusedArgument(promise: Promise<unknown>): Promise<unknown> {
  const error = await promise.then(
    () => "resolved",
    (reason: unknown) => reason,
  );
  return error instanceof InvalidArgument ? error.argument : error;
}

/** Bad values with the label a test's name shows (`%s` would print "1" and 1 alike). */
const labelled = (values: readonly unknown[]): [string, unknown][] =>
  values.map((value) => [
    typeof value === "number" && !Number.isFinite(value) ? String(value) : JSON.stringify(value),
    value,
  ]);

const badLeases = labelled([-1, 0, "soon", Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, null]);
const badSeqs = labelled([Number.NaN, -1, 0, 1.5, "1", null, 2 ** 53]);
const badDelays = labelled([Number.NaN, -1, "x", Number.POSITIVE_INFINITY, DURATION_MS_MAX + 1]);
const badCounts = labelled([0, -1, 1.5, Number.NaN, "2", Number.POSITIVE_INFINITY]);

describe("take and takeMany check their arguments", () => {
  it.each(badLeases)(
    "take({ leaseMs: %s }) rejects with InvalidArgument naming leaseMs",
    async (_, leaseMs) => {
      const spool = await spoolWith(1);
      expect(await refusedArgument(spool.take({ leaseMs: leaseMs as number }))).toBe("leaseMs");
      await spool.close();
    },
  );

  it("a refused take leases nothing: the message stays queued for its first delivery", async () => {
    const spool = await spoolWith(1);
    await expect(spool.take({ leaseMs: -1 })).rejects.toBeInstanceOf(InvalidArgument);
    expect(spool.messageState(1)).toBe("queued");
    const lease = await spool.take({ leaseMs: 60_000 });
    expect([lease?.seq, lease?.attempt]).toEqual([1, 1]);
    expect(await spool.take()).toBeUndefined();
    await spool.close();
  });

  it("takes a lease of DURATION_MS_MAX, the longest there is", async () => {
    const spool = await spoolWith(1);
    expect((await spool.take({ leaseMs: DURATION_MS_MAX }))?.seq).toBe(1);
    await spool.close();
  });

  it.each(badCounts)("takeMany(%s) rejects with InvalidArgument naming count", async (_, count) => {
    const spool = await spoolWith(1);
    expect(await refusedArgument(spool.takeMany(count as number))).toBe("count");
    await spool.close();
  });

  it.each([5, null, "x", [1]])(
    "take(%j) rejects with InvalidArgument naming options",
    async (options) => {
      const spool = await spoolWith(1);
      expect(await refusedArgument(spool.take(options as never))).toBe("options");
      await spool.close();
    },
  );

  it("take refuses a misspelt option instead of using the default lease", async () => {
    const spool = await spoolWith(1);
    const options = { leaseMS: 5 } as never;
    expect(await refusedArgument(spool.take(options))).toBe("options.leaseMS");
    await spool.close();
  });
});

describe("ack, nack and purgeDeadLetter check the seq", () => {
  it.each(badSeqs)("ack(%s) rejects with InvalidArgument naming seq", async (_, seq) => {
    const spool = await spoolWith(1);
    await spool.take();
    expect(await refusedArgument(spool.ack(seq as number))).toBe("seq");
    await spool.close();
  });

  it("ack of a well-formed seq that is not leased rejects with NotLeased", async () => {
    const spool = await spoolWith(1);
    await expect(spool.ack(1)).rejects.toBeInstanceOf(NotLeased);
    await expect(spool.ack(99)).rejects.toBeInstanceOf(NotLeased);
    await spool.close();
  });

  it.each(badSeqs)("nack(%s) rejects with InvalidArgument naming seq", async (_, seq) => {
    const spool = await spoolWith(1);
    await spool.take();
    expect(await refusedArgument(spool.nack(seq as number))).toBe("seq");
    await spool.close();
  });

  it.each(badSeqs)(
    "purgeDeadLetter(%s) rejects with InvalidArgument naming seq",
    async (_, seq) => {
      const spool = await spoolWith(1);
      expect(await refusedArgument(spool.purgeDeadLetter(seq as number))).toBe("seq");
      await spool.close();
    },
  );

  it("the promise-returning methods reject bad arguments, never throw synchronously", async () => {
    const spool = await spoolWith(1);
    const bad = "x" as never;
    const calls = [
      () => spool.ack(bad),
      () => spool.nack(bad, bad),
      () => spool.purgeDeadLetter(bad),
      () => spool.take(bad),
      () => spool.takeMany(bad, bad),
      () => spool.records(bad).next(),
    ];
    const promises = calls.map((call) => call());
    const outcomes = await Promise.allSettled(promises);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(calls.map(() => "rejected"));
    await spool.close();
  });
});

describe("nack checks retryAfterMs", () => {
  it.each(badDelays)(
    "nack(seq, { retryAfterMs: %s }) rejects with InvalidArgument naming retryAfterMs",
    async (_, retryAfterMs) => {
      const spool = await spoolWith(1);
      await spool.take();
      const options = { retryAfterMs: retryAfterMs as number };
      expect(await refusedArgument(spool.nack(1, options))).toBe("retryAfterMs");
      await spool.close();
    },
  );

  it("a refused nack leaves the message leased, so a correct nack still counts", async () => {
    const spool = await spoolWith(1);
    await spool.take();
    await expect(spool.nack(1, { retryAfterMs: Number.NaN })).rejects.toBeInstanceOf(
      InvalidArgument,
    );
    expect(spool.messageState(1)).toBe("leased");
    await spool.nack(1, { retryAfterMs: 0 });
    expect((await spool.take())?.attempt).toBe(2);
    await spool.close();
  });
});

describe("the synchronous methods throw InvalidArgument", () => {
  it.each(badSeqs)("messageState(%s) throws InvalidArgument naming seq", async (_, seq) => {
    const spool = await spoolWith(1);
    expect(() => spool.messageState(seq as number)).toThrow(InvalidArgument);
    await spool.close();
  });

  it("messageState of a well-formed seq no message has yet is unknown", async () => {
    const spool = await spoolWith(1);
    expect(spool.messageState(2)).toBe("unknown");
    await spool.close();
  });

  it("writer(name) throws InvalidArgument when the name is not a string", async () => {
    const spool = await spoolWith(0);
    expect(() => spool.writer(42 as never)).toThrow(InvalidArgument);
    await spool.close();
  });
});

describe("records checks from", () => {
  it.each(badSeqs)(
    "records({ from: %s }) rejects its first step with InvalidArgument naming from",
    async (_, from) => {
      const spool = await spoolWith(1);
      const first = spool.records({ from: from as number }).next();
      expect(await refusedArgument(first)).toBe("from");
      await spool.close();
    },
  );

  it("records(3) rejects its first step with InvalidArgument naming options", async () => {
    const spool = await spoolWith(1);
    expect(await refusedArgument(spool.records(3 as never).next())).toBe("options");
    await spool.close();
  });
});

describe("consume checks its handler and options", () => {
  const handler = async () => undefined;

  it.each<[string, unknown]>([
    ["concurrency", { concurrency: 0 }],
    ["concurrency", { concurrency: 1.5 }],
    ["leaseMs", { leaseMs: -1 }],
    ["leaseMs", { leaseMs: "soon" }],
    ["pollMs", { pollMs: 0 }],
    ["pollMs", { pollMs: Number.POSITIVE_INFINITY }],
    ["retryAfterMs", { retryAfterMs: -5 }],
    ["options", 7],
    ["options.concurency", { concurency: 2 }],
  ])("throws InvalidArgument naming %s for %j", async (argument, options) => {
    const spool = await spoolWith(0);
    try {
      spool.consume(handler, options as never);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgument);
      expect((error as InvalidArgument).argument).toBe(argument);
    }
    await spool.close();
  });

  it("throws InvalidArgument naming handler when the handler is not a function", async () => {
    const spool = await spoolWith(0);
    expect(() => spool.consume("deliver" as never)).toThrow(InvalidArgument);
    await spool.close();
  });

  it("stops with InvalidArgument when a retryAfterMs function returns no duration", async () => {
    const spool = await spoolWith(1);
    let handled!: () => void;
    const ran = new Promise<void>((resolve) => {
      handled = resolve;
    });
    const consumer = spool.consume(
      async () => {
        handled();
        throw new Error("delivery failed");
      },
      { retryAfterMs: () => Number.NaN },
    );
    await ran;
    expect(await refusedArgument(consumer.stop())).toBe("retryAfterMs");
    await spool.close();
  });
});

describe("the other public calls check their arguments", () => {
  it("onFailure throws InvalidArgument naming listener when it is not a function", async () => {
    const spool = await spoolWith(0);
    expect(() => spool.onFailure(5 as never)).toThrow(InvalidArgument);
    await spool.close();
  });
  it("onBatch throws InvalidArgument naming listener when it is not a function", async () => {
    const spool = await spoolWith(0);
    expect(() => spool.onBatch(5 as never)).toThrow(InvalidArgument);
    await spool.close();
  });

  it.each(labelled([Number.NaN, -1, 0, "soon", Number.POSITIVE_INFINITY]))(
    "connectSocketWriter(path, { timeoutMs: %s }) rejects with InvalidArgument naming timeoutMs",
    async (_, timeoutMs) => {
      const connecting = connectSocketWriter("/nonexistent/writers.sock", {
        timeoutMs: timeoutMs as number,
      });
      expect(await refusedArgument(connecting)).toBe("timeoutMs");
    },
  );
});

describe("options that throw when read are refused, not thrown through", () => {
  const revoked = (): unknown => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    return revocable.proxy;
  };
  const throwingGetter = (key: string): unknown =>
    Object.defineProperty({}, key, {
      enumerable: true,
      get: () => {
        throw new Error("getter");
      },
    });

  it("take(revoked Proxy) rejects with InvalidArgument naming options", async () => {
    const spool = await spoolWith(1);
    expect(await refusedArgument(spool.take(revoked() as never))).toBe("options");
    await spool.close();
  });

  it("take with a leaseMs getter that throws rejects with InvalidArgument", async () => {
    const spool = await spoolWith(1);
    expect(await refusedArgument(spool.take(throwingGetter("leaseMs") as never))).toBe("options");
    await spool.close();
  });

  it("nack with a revoked Proxy as options rejects with InvalidArgument", async () => {
    const spool = await spoolWith(1);
    const lease = await spool.take();
    expect(await refusedArgument(spool.nack(lease!.seq, revoked() as never))).toBe("options");
    await spool.close();
  });

  it("consume with a revoked Proxy as options throws InvalidArgument", async () => {
    const spool = await spoolWith(0);
    expect(() => spool.consume(async () => undefined, revoked() as never)).toThrow(InvalidArgument);
    await spool.close();
  });

  it("ack(revoked Proxy) rejects with InvalidArgument naming seq", async () => {
    const spool = await spoolWith(1);
    expect(await refusedArgument(spool.ack(revoked() as never))).toBe("seq");
    await spool.close();
  });

  it("append with a misspelt option rejects with InvalidArgument naming it", async () => {
    const spool = await spoolWith(0);
    const appending = spool.writer().append("x", { durabilty: "async" } as never);
    expect(await refusedArgument(appending)).toBe("options.durabilty");
    await spool.close();
  });

  it("append with a durability getter that throws rejects with InvalidArgument", async () => {
    const spool = await spoolWith(0);
    const appending = spool.writer().append("x", throwingGetter("durability") as never);
    expect(await refusedArgument(appending)).toBe("options");
    await spool.close();
  });
});

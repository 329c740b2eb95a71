import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { InvariantViolation } from "@spool/core";
import { Cause, Effect, Exit, Layer, Option } from "effect";
import { describe, expect, it } from "vitest";
import { openSpool, type Spool, type SpoolApi, SpoolEffect } from "../src/index.js";
import { appendAll, runWith, text, watched } from "./EffectHelpers.js";
import { temporaryDirectory } from "./helpers.js";

describe("SpoolEffect: appends", () => {
  it("appends through the service's writer and through a named writer of a scope", async () => {
    const seqs = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        const first = yield* spool.append("a");
        const second = yield* Effect.scoped(
          Effect.gen(function* () {
            const writer = yield* spool.writer("smsc-1");
            expect(writer.name).toBe("smsc-1");
            return yield* writer.append("b");
          }),
        );
        return [first.seq, second.seq, first.durability];
      }),
    );
    expect(seqs).toEqual([1, 2, "flushed"]);
  });

  it("a writer takes no appends once its scope closed: SpoolClosed in the error channel", async () => {
    const error = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        const writer = yield* Effect.scoped(spool.writer("short-lived"));
        return yield* Effect.flip(writer.append("late"));
      }),
    );
    expect(error._tag).toBe("SpoolClosed");
  });

  it("fails with RecordTooLarge, InvalidPayload and FlushFailed as errors, not defects", async () => {
    const disk = new MemoryDisk();
    const tags = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        const tooLarge = yield* Effect.flip(spool.append("x".repeat(2048)));
        // @ts-expect-error a number is not a payload
        const notPayload = yield* Effect.flip(spool.append(42));
        disk.failNext("flush", "EIO");
        const flush = yield* Effect.flip(spool.append("lost"));
        return [tooLarge._tag, notPayload._tag, flush._tag];
      }),
      { recordPayloadByteSizeMax: 1024 },
      disk,
    );
    expect(tags).toEqual(["RecordTooLarge", "InvalidPayload", "FlushFailed"]);
  });

  it("fails with SpoolFull at the disk budget, and appends again once messages are acked", async () => {
    const dir = temporaryDirectory();
    const layer = SpoolEffect.layer({ dir, segmentByteSize: 8192, diskBudgetBytes: 3 * 8192 });
    const program = Effect.gen(function* () {
      const spool = yield* SpoolEffect.Spool;
      const payload = "x".repeat(1000);
      let accepted = 0;
      const full = yield* Effect.flip(
        Effect.forever(
          Effect.map(spool.append(payload), () => {
            accepted += 1;
          }),
        ),
      );
      for (let lease = yield* spool.take(); Option.isSome(lease); lease = yield* spool.take()) {
        yield* spool.ack(lease.value.seq);
      }
      const after = yield* spool.append(payload);
      return { full: full._tag, accepted, after: after.seq };
    });
    const { full, accepted, after } = await Effect.runPromise(Effect.provide(program, layer));
    expect(full).toBe("SpoolFull");
    expect(accepted).toBeGreaterThanOrEqual(14);
    expect(after).toBe(accepted + 1);
  });
});

describe("SpoolEffect: takes and answers", () => {
  it("take is none when nothing is ready, a lease once appended; takeMany leases several", async () => {
    const result = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        const before = yield* spool.take();
        yield* appendAll(["a", "b", "c"]);
        const one = yield* spool.take({ leaseMs: 10_000 });
        const rest = yield* spool.takeMany(5);
        return { before, one, rest };
      }),
    );
    expect(Option.isNone(result.before)).toBe(true);
    const one = Option.getOrThrow(result.one);
    expect([one.seq, text(one.payload), one.attempt]).toEqual([1, "a", 1]);
    expect(result.rest.map((lease) => text(lease.payload))).toEqual(["b", "c"]);
  });

  it("take and takeMany fail with InvalidArgument for bad arguments", async () => {
    const errors = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        return [
          yield* Effect.flip(spool.take({ leaseMs: -1 })),
          yield* Effect.flip(spool.takeMany(0)),
        ];
      }),
    );
    expect(errors.map((error) => error._tag)).toEqual(["InvalidArgument", "InvalidArgument"]);
    expect(errors.map((error) => (error._tag === "InvalidArgument" ? error.argument : ""))).toEqual(
      ["leaseMs", "count"],
    );
  });

  it("ack settles a leased message durably; an ack of a seq not leased fails with NotLeased", async () => {
    const result = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        yield* appendAll(["a", "b"]);
        const lease = Option.getOrThrow(yield* spool.take());
        yield* spool.ack(lease.seq);
        return {
          state: yield* spool.messageState(lease.seq),
          again: yield* Effect.flip(spool.ack(lease.seq)),
          notTaken: yield* Effect.flip(spool.ack(2)),
          badSeq: yield* Effect.flip(spool.ack(0)),
          depth: yield* spool.depth,
          acks: (yield* spool.stats).acks,
        };
      }),
    );
    expect(result.state).toBe("done");
    expect(result.again).toMatchObject({ _tag: "NotLeased", seq: 1 });
    expect(result.notTaken).toMatchObject({ _tag: "NotLeased", seq: 2 });
    expect(result.badSeq).toMatchObject({ _tag: "InvalidArgument", argument: "seq" });
    expect([result.depth, result.acks]).toEqual([1, 1]);
  });

  it("nack gives a message back; past maxAttempts it is a dead letter, listed and purged", async () => {
    const result = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        yield* appendAll(["poison"]);
        const first = Option.getOrThrow(yield* spool.take());
        yield* spool.nack(first.seq, { retryAfterMs: 0 });
        const second = Option.getOrThrow(yield* spool.take());
        yield* spool.nack(second.seq);
        const letters = yield* spool.deadLetters;
        const state = yield* spool.messageState(first.seq);
        yield* spool.purgeDeadLetter(first.seq);
        return {
          attempts: [first.attempt, second.attempt],
          letters: letters.map((letter) => [letter.seq, text(letter.payload), letter.attempts]),
          state,
          after: yield* spool.deadLetters,
          purgedAgain: yield* Effect.flip(spool.purgeDeadLetter(first.seq)),
          nackBad: yield* Effect.flip(spool.nack(first.seq, { retryAfterMs: -5 })),
        };
      }),
      { maxAttempts: 2 },
    );
    expect(result.attempts).toEqual([1, 2]);
    expect(result.letters).toEqual([[1, "poison", 2]]);
    expect(result.state).toBe("dead");
    expect(result.after).toEqual([]);
    expect(result.purgedAgain._tag).toBe("NotLeased");
    expect(result.nackBad).toMatchObject({ _tag: "InvalidArgument", argument: "retryAfterMs" });
  });

  it("an ack whose index flush fails fails with FlushFailed in the error channel", async () => {
    const disk = new MemoryDisk();
    const error = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        yield* appendAll(["a"]);
        const lease = Option.getOrThrow(yield* spool.take());
        disk.index().failNext("flush", "EIO");
        return yield* Effect.flip(spool.ack(lease.seq));
      }),
      {},
      disk,
    );
    expect(error).toMatchObject({ _tag: "FlushFailed", code: "EIO" });
  });

  it("messageState and depth answer; messageState of seq 0 fails with InvalidArgument", async () => {
    const result = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        yield* appendAll(["a", "b"]);
        return {
          states: [yield* spool.messageState(1), yield* spool.messageState(3)],
          depth: yield* spool.depth,
          records: (yield* spool.stats).records,
          bad: yield* Effect.flip(spool.messageState(0)),
        };
      }),
    );
    expect(result).toMatchObject({ states: ["queued", "unknown"], depth: 2, records: 2 });
    expect(result.bad._tag).toBe("InvalidArgument");
  });
});

describe("SpoolEffect: layers and stores", () => {
  it("the layer's scope closing closes the spool: the service then fails with SpoolClosed", async () => {
    const disk = new MemoryDisk();
    const service = await runWith(
      Effect.gen(function* () {
        yield* appendAll(["kept"]);
        return yield* SpoolEffect.Spool;
      }),
      {},
      disk,
    );
    const late = await Effect.runPromise(Effect.flip(service.append("late")));
    expect(late._tag).toBe("SpoolClosed");
    // Closed, not lost: the directory opens again with its record.
    const reopened = await openSpool({ dir: "effect", adapter: memoryAdapter(disk) });
    expect(reopened.depth()).toBe(1);
    await reopened.close();
  });

  it("the layer fails with the typed OpenError for bad options", async () => {
    const layer = SpoolEffect.layer({ dir: "effect", adapter: memoryAdapter(), maxAttempts: 0 });
    const error = await Effect.runPromise(
      Effect.flip(Effect.provide(Effect.void, Layer.merge(layer, Layer.empty))),
    );
    expect(error).toMatchObject({ _tag: "ConfigInvalid", field: "maxAttempts" });
  });

  it("fromStore wraps a store the caller keeps open, and refuses what is not a store", async () => {
    const spool = await openSpool({ dir: "effect", adapter: memoryAdapter() });
    const seq = await Effect.runPromise(
      Effect.gen(function* () {
        const service = yield* SpoolEffect.fromStore(spool);
        return (yield* service.append("via the store")).seq;
      }),
    );
    expect(seq).toBe(1);
    expect(spool.messageState(1)).toBe("queued");
    const notStore = { dir: "x" } as unknown as SpoolApi;
    const refused = await Effect.runPromise(Effect.flip(SpoolEffect.fromStore(notStore)));
    expect(refused).toMatchObject({ _tag: "InvalidArgument", argument: "store" });
    await spool.close();
  });

  it("a layer of one's own around fromStore opens a store for its scope and closes it after", async () => {
    const disk = new MemoryDisk();
    let opened: Spool | undefined;
    // As docs/effect.md makes one for a JetStream stream.
    const OwnSpoolLive = Layer.effect(
      SpoolEffect.Spool,
      Effect.acquireRelease(
        Effect.promise(async () => {
          opened = await openSpool({ dir: "own", adapter: memoryAdapter(disk) });
          return opened;
        }),
        (store) => Effect.promise(() => store.close()),
      ).pipe(Effect.flatMap(SpoolEffect.fromStore)),
    );
    const seq = await Effect.runPromise(
      Effect.provide(
        SpoolEffect.Spool.use((spool) => spool.append("own")),
        OwnSpoolLive,
      ),
    );
    expect(seq.seq).toBe(1);
    expect(() => opened!.writer()).toThrow(expect.objectContaining({ _tag: "SpoolClosed" }));
  });

  it("a programmer error a store throws is a defect, not an error", async () => {
    const spool = await openSpool({ dir: "effect", adapter: memoryAdapter() });
    const { store } = watched(spool);
    const broken: SpoolApi = {
      ...store,
      ack: () => Promise.reject(new InvariantViolation({ message: "a broken invariant" })),
    };
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        const service = yield* SpoolEffect.fromStore(broken);
        return yield* service.ack(1);
      }),
    );
    expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true);
    expect(Exit.isFailure(exit) && Cause.hasFails(exit.cause)).toBe(false);
    await spool.close();
  });
});

import { memoryAdapter } from "@spool/adapters";
import { Effect, Exit, Fiber, Stream } from "effect";
import { describe, expect, it } from "vitest";
import { type Lease, openSpool, SpoolEffect } from "../src/index.js";
import { appendAll, runWith, text, watched } from "./EffectHelpers.js";

describe("SpoolEffect: streams", () => {
  it("records streams the durable records from `from` on, afresh on each run", async () => {
    const result = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        yield* appendAll(["a", "b", "c"]);
        const fromTwo = spool.records({ from: 2 });
        const first = yield* Stream.runCollect(fromTwo);
        yield* spool.append("d");
        const second = yield* Stream.runCollect(fromTwo);
        const bad = yield* Effect.flip(Stream.runCollect(spool.records({ from: 0 })));
        return { first, second, bad };
      }),
    );
    expect(result.first.map((record) => [record.seq, text(record.payload)])).toEqual([
      [2, "b"],
      [3, "c"],
    ]);
    expect(result.second.map((record) => text(record.payload))).toEqual(["b", "c", "d"]);
    expect(result.bad).toMatchObject({ _tag: "InvalidArgument", argument: "from" });
  });

  it("consume leases no more than inFlightMax unanswered deliveries (back-pressure)", async () => {
    const spool = await openSpool({ dir: "effect", adapter: memoryAdapter() });
    const { store, watch } = watched(spool);
    await Promise.all(Array.from({ length: 10 }, (_, i) => spool.writer().append(`m${i + 1}`)));
    const held: SpoolEffect.Delivery[] = [];
    const seen: number[] = [];
    const program = Effect.gen(function* () {
      const service = yield* SpoolEffect.Spool;
      // Holds three deliveries before it answers the oldest: only an answer makes room.
      yield* service.consume({ inFlightMax: 3 }).pipe(
        Stream.take(10),
        Stream.runForEach((delivery) =>
          Effect.gen(function* () {
            seen.push(delivery.seq);
            held.push(delivery);
            if (held.length === 3) yield* held.shift()!.ack;
          }),
        ),
      );
      for (const delivery of held.splice(0)) yield* delivery.ack;
    });
    await Effect.runPromise(Effect.provide(program, SpoolEffect.layerFromStore(store)));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(watch.overBound).toEqual([]);
    expect(watch.unansweredMax).toBe(3);
    expect(spool.depth()).toBe(0);
    await spool.close();
  });

  it("a pull while inFlightMax deliveries are unanswered leases nothing until one is answered", async () => {
    const spool = await openSpool({ dir: "effect", adapter: memoryAdapter() });
    const { store, watch } = watched(spool, 2);
    await Promise.all(["a", "b", "c"].map((message) => spool.writer().append(message)));
    const program = Effect.scoped(
      Effect.gen(function* () {
        const service = yield* SpoolEffect.Spool;
        const pull = yield* Stream.toPull(service.consume({ inFlightMax: 2 }));
        const held = [...(yield* pull)];
        if (held.length < 2) held.push(...(yield* pull));
        // Started at once, it runs until it waits: for an answer, taking nothing meanwhile.
        const third = yield* Effect.forkChild(pull, { startImmediately: true });
        const leasedWhileFull = watch.leased;
        yield* held[0]!.ack;
        const next = yield* Fiber.join(third);
        return { held: held.map((delivery) => delivery.seq), leasedWhileFull, next: next[0]!.seq };
      }),
    );
    const result = await Effect.runPromise(
      Effect.provide(program, SpoolEffect.layerFromStore(store)),
    );
    expect(result).toEqual({ held: [1, 2], leasedWhileFull: 2, next: 3 });
    expect(watch.overBound).toEqual([]);
    await spool.close();
  });

  it("consume hands a nacked delivery out again with its next attempt", async () => {
    const attempts = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        yield* appendAll(["flaky"]);
        const answered: number[] = [];
        yield* spool.consume({ pollMs: 1 }).pipe(
          Stream.take(3),
          Stream.runForEach((delivery) => {
            answered.push(delivery.attempt);
            return delivery.attempt < 3 ? delivery.nack() : delivery.ack;
          }),
        );
        return answered;
      }),
    );
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("consume fails with InvalidArgument for bad options as it starts", async () => {
    const error = await runWith(
      Effect.gen(function* () {
        const spool = yield* SpoolEffect.Spool;
        return yield* Effect.flip(Stream.runDrain(spool.consume({ inFlightMax: 0 })));
      }),
    );
    expect(error).toMatchObject({ _tag: "InvalidArgument", argument: "inFlightMax" });
  });
});

describe("SpoolEffect: forkConsumer", () => {
  it("acks what the handler delivers, nacks what it fails, and dead-letters after maxAttempts", async () => {
    const spool = await openSpool({ dir: "effect", adapter: memoryAdapter(), maxAttempts: 3 });
    await Promise.all(["ok-1", "flaky", "ok-2", "poison"].map((m) => spool.writer().append(m)));
    const { store, watch } = watched(spool);
    const delivered: string[] = [];
    const tries: string[] = [];
    const onAttempt = (message: string, attempt: number) => {
      tries.push(`${message}#${attempt}`);
      if (message === "poison" || (message === "flaky" && attempt === 1)) {
        return Effect.fail({ _tag: "Busy" as const, message });
      }
      delivered.push(message);
      return Effect.void;
    };
    // Settled once three acks and the poison's last nack (its dead letter) are durable.
    const settled = new Promise<void>((resolve) => {
      watch.onAnswer = () => {
        if (watch.acked.length === 3 && spool.messageState(4) === "dead") resolve();
      };
    });
    const program = Effect.scoped(
      Effect.gen(function* () {
        const fiber = yield* SpoolEffect.forkConsumer(
          (lease: Lease) => onAttempt(text(lease.payload), lease.attempt),
          {
            concurrency: 2,
            pollMs: 1,
            retryAfterMs: (_lease, error) => (error._tag === "Busy" ? 0 : 1),
          },
        );
        yield* Effect.promise(() => settled);
        return fiber;
      }),
    );
    const fiber = await Effect.runPromise(
      Effect.provide(program, SpoolEffect.layerFromStore(store)),
    );
    const exit = await Effect.runPromise(Fiber.await(fiber));
    expect(Exit.hasInterrupts(exit)).toBe(true);
    expect(delivered.sort()).toEqual(["flaky", "ok-1", "ok-2"]);
    expect(tries.filter((attempt) => attempt.startsWith("poison"))).toEqual([
      "poison#1",
      "poison#2",
      "poison#3",
    ]);
    expect((await spool.deadLetters()).map((letter) => letter.seq)).toEqual([4]);
    // The scope closed: the consumer stopped, and a new message waits for the next one.
    const { seq } = await spool.writer().append("after");
    expect(spool.messageState(seq)).toBe("queued");
    await spool.close();
  });

  it("fails with InvalidArgument for a handler that is not a function or bad options", async () => {
    const errors = await runWith(
      Effect.scoped(
        Effect.gen(function* () {
          const notHandler = "deliver" as unknown as (lease: Lease) => Effect.Effect<void>;
          return [
            yield* Effect.flip(SpoolEffect.forkConsumer(notHandler)),
            yield* Effect.flip(SpoolEffect.forkConsumer(() => Effect.void, { concurrency: 0 })),
            yield* Effect.flip(SpoolEffect.forkConsumer(() => Effect.void, { pollMs: 0 })),
          ];
        }),
      ),
    );
    expect(errors.map((error) => error.argument)).toEqual(["handler", "concurrency", "pollMs"]);
  });
});

import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Consumer, openSpool, type Spool, type Writer } from "../src/index.js";

/**
 * The public API fed arbitrary values, between valid appends (fast-check prints the seed and
 * the shrunk case on failure; rerun with `fc.assert(..., { seed, path })`). Strict: a method
 * that returns a promise never throws synchronously, a promise settles with a result or with
 * exactly the errors its method documents, a synchronous method returns or throws
 * `InvalidArgument`, and no garbage leaves the spool failed.
 */

// Small segments keep each run's memory small; a run's few KiB stay in the first segment.
const SEGMENT_BYTE_SIZE = 256 * 1024;
// Enough runs to meet every kind of garbage several times, few enough for a few seconds;
// SPOOL_FUZZ_RUNS asks for more.
const NUM_RUNS = Number(process.env.SPOOL_FUZZ_RUNS ?? 40);

/** An independent oracle for what append stores: the bytes a view shows, a string as UTF-8. */
function expectedBytes(payload: unknown): Uint8Array | undefined {
  if (typeof payload === "string") return new TextEncoder().encode(payload);
  if (ArrayBuffer.isView(payload)) {
    return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength).slice();
  }
  if (payload instanceof ArrayBuffer || payload instanceof SharedArrayBuffer) {
    return new Uint8Array(payload).slice();
  }
  return undefined;
}

/** A valid payload in one of the shapes append takes. */
const validPayload: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => bytes.slice().buffer),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => {
    const buffer = new ArrayBuffer(bytes.byteLength + 7);
    new Uint8Array(buffer, 3).set(bytes);
    return new DataView(buffer, 3, bytes.byteLength);
  }),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => {
    const buffer = new ArrayBuffer(bytes.byteLength + 4);
    new Uint8Array(buffer, 2).set(bytes);
    return new Uint16Array(buffer, 2, bytes.byteLength >> 1);
  }),
  fc.array(fc.double(), { maxLength: 6 }).map((values) => new Float64Array(values)),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
);

const validOptions = fc.constantFrom(
  undefined,
  {},
  { durability: "flushed" as const },
  { durability: "async" as const },
);

/**
 * Values that throw when looked at (a revoked Proxy, traps and getters that throw), plus
 * objects without a prototype. fast-check itself looks at the values it generates, so it
 * carries a {@link Hostile} stand-in, made real only when a call is made.
 */
class Hostile {
  constructor(readonly index: number) {}
  toString(): string {
    return `hostile value ${this.index}`;
  }
}
const HOSTILE_KINDS = 5;

function hostile(index: number): unknown {
  const trap = (): never => {
    throw new Error("trap");
  };
  switch (index) {
    case 0: {
      const revoked = Proxy.revocable({}, {});
      revoked.revoke();
      return revoked.proxy;
    }
    case 1: {
      const traps = { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap };
      return new Proxy({}, { ...traps, getOwnPropertyDescriptor: trap });
    }
    case 2: {
      const keys = ["durability", "leaseMs", "retryAfterMs", "from", "byteLength", "pollMs"];
      const getters = keys.map((key) => [key, { get: trap, enumerable: true }]);
      return Object.defineProperties({}, Object.fromEntries(getters));
    }
    case 3:
      return Object.create(null);
    default:
      return Object.assign(Object.create(null), { leaseMs: 5, durability: "async" });
  }
}

/** `value`, with a {@link Hostile} stand-in made real. */
function real(value: unknown): unknown {
  if (value instanceof Hostile) return hostile(value.index);
  return value;
}

/** What the issue found, hostile values, and whatever fast-check makes of "anything". */
const garbage: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(123, true, null, undefined, [1, 2], {}, Number.NaN, -1, Symbol("s")),
  fc.integer({ min: 0, max: HOSTILE_KINDS - 1 }).map((index) => new Hostile(index)),
  fc.constantFrom(Symbol("s"), () => 1, 10n),
  fc.record({ byteLength: fc.oneof(fc.double(), fc.integer(), fc.string()) }),
  fc.anything({
    withTypedArray: true,
    withBigInt: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withBoxedValues: true,
    withSparseArray: true,
  }),
);

/** A seq of a message that may exist, or garbage. */
const seqOrGarbage = fc.oneof(fc.integer({ min: -2, max: 40 }), garbage);

/** An options object with known keys holding garbage, or garbage itself. */
function optionsOf(...keys: string[]): fc.Arbitrary<unknown> {
  const values = fc.oneof(fc.integer({ min: -5, max: 5_000 }), garbage);
  const known = fc.record(Object.fromEntries(keys.map((key) => [key, values])), {
    requiredKeys: [],
  });
  return fc.oneof(known, garbage);
}

/** A public call: its name, what it may reject or throw with, and how to make it. */
interface Call {
  readonly name: string;
  /** The arguments as fast-check made them, for a readable counterexample. */
  readonly args: readonly unknown[];
  /** The tags its promise may reject with (or, for a synchronous method, it may throw). */
  readonly documented: readonly string[];
  readonly run: (spool: Spool, writer: Writer) => unknown;
  /** For appends: the bytes it should store if acknowledged. */
  readonly bytes?: Uint8Array | undefined;
  readonly synchronous?: true;
}

const BY_ARGUMENT = ["InvalidArgument"] as const;
const BY_SEQ = ["InvalidArgument", "NotLeased"] as const;

const call: fc.Arbitrary<Call> = fc.oneof(
  fc.tuple(fc.oneof(validPayload, garbage), fc.oneof(validOptions, garbage)).map(
    ([payload, options]): Call => ({
      name: "append",
      args: [payload, options],
      documented: ["InvalidPayload", "InvalidArgument"],
      run: (_, writer) => writer.append(real(payload) as never, real(options) as never),
      bytes: expectedBytes(payload),
    }),
  ),
  optionsOf("leaseMs").map(
    (options): Call => ({
      name: "take",
      args: [options],
      documented: BY_ARGUMENT,
      run: (spool) => spool.take(real(options) as never),
    }),
  ),
  fc.tuple(fc.oneof(fc.integer({ min: -1, max: 5 }), garbage), optionsOf("leaseMs")).map(
    ([count, options]): Call => ({
      name: "takeMany",
      args: [count, options],
      documented: BY_ARGUMENT,
      run: (spool) => spool.takeMany(real(count) as never, real(options) as never),
    }),
  ),
  seqOrGarbage.map(
    (seq): Call => ({
      name: "ack",
      args: [seq],
      documented: BY_SEQ,
      run: (spool) => spool.ack(real(seq) as never),
    }),
  ),
  fc.tuple(seqOrGarbage, optionsOf("retryAfterMs")).map(
    ([seq, options]): Call => ({
      name: "nack",
      args: [seq, options],
      documented: BY_SEQ,
      run: (spool) => spool.nack(real(seq) as never, real(options) as never),
    }),
  ),
  seqOrGarbage.map(
    (seq): Call => ({
      name: "purgeDeadLetter",
      args: [seq],
      documented: BY_SEQ,
      run: (spool) => spool.purgeDeadLetter(real(seq) as never),
    }),
  ),
  fc.constant<Call>({
    name: "deadLetters",
    args: [],
    documented: [],
    run: (spool) => spool.deadLetters(),
  }),
  optionsOf("from").map(
    (options): Call => ({
      name: "records",
      args: [options],
      documented: BY_ARGUMENT,
      run: (spool) => {
        // Called here, so a synchronous throw is the caller's to see; iterated in the promise.
        const records = spool.records(real(options) as never);
        return (async () => {
          for await (const _ of records) void _;
        })();
      },
    }),
  ),
  seqOrGarbage.map(
    (seq): Call => ({
      name: "messageState",
      args: [seq],
      documented: BY_ARGUMENT,
      synchronous: true,
      run: (spool) => spool.messageState(real(seq) as never),
    }),
  ),
  garbage.map(
    (argument): Call => ({
      name: "depth",
      args: [argument],
      documented: [],
      synchronous: true,
      run: (spool) => (spool.depth as (...args: unknown[]) => number).call(spool, real(argument)),
    }),
  ),
  fc
    .oneof(
      garbage,
      fc.constant(() => undefined),
    )
    .map(
      (listener): Call => ({
        name: "onBatch",
        args: [listener],
        documented: BY_ARGUMENT,
        synchronous: true,
        run: (spool) => spool.onBatch(real(listener) as never)(),
      }),
    ),
  fc
    .oneof(
      garbage,
      fc.constant(() => undefined),
    )
    .map(
      (listener): Call => ({
        name: "onFailure",
        args: [listener],
        documented: BY_ARGUMENT,
        synchronous: true,
        run: (spool) => spool.onFailure(real(listener) as never)(),
      }),
    ),
  fc.oneof(garbage, fc.string({ maxLength: 8 })).map(
    (name): Call => ({
      name: "writer",
      args: [name],
      documented: BY_ARGUMENT,
      synchronous: true,
      run: (spool) => spool.writer(real(name) as never).append("from a named writer"),
    }),
  ),
  fc
    .tuple(
      fc.oneof(
        garbage,
        fc.constant(() => undefined),
      ),
      optionsOf("concurrency", "leaseMs", "retryAfterMs", "pollMs"),
    )
    .map(
      ([handler, options]): Call => ({
        name: "consume",
        args: [handler, options],
        documented: BY_ARGUMENT,
        synchronous: true,
        run: (spool) => spool.consume(real(handler) as never, real(options) as never),
      }),
    ),
);

function tagOf(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { _tag?: unknown })._tag : error;
}

/** Reads every record back after reopening, by seq. */
async function readBack(disk: MemoryDisk): Promise<Map<number, Uint8Array>> {
  const spool = await openSpool({
    dir: "fuzzed",
    adapter: memoryAdapter(disk),
    segmentByteSize: SEGMENT_BYTE_SIZE,
  });
  const stored = new Map<number, Uint8Array>();
  for await (const record of spool.records()) stored.set(record.seq, record.payload.slice());
  await spool.close();
  return stored;
}

type Outcome =
  | { readonly kind: "resolved"; readonly value: unknown }
  | { readonly kind: "rejected"; readonly error: unknown }
  | { readonly kind: "pending" };

/**
 * Waits for every promise to settle, or for the readiness signal `ready` (by which every one
 * must have settled), and reports how each ended.
 */
async function settleAll(calls: Promise<unknown>[], ready: Promise<unknown>): Promise<Outcome[]> {
  const hung = Symbol("hung");
  const afterReady = ready.then(async () => {
    // The continuations of calls settled with the signal run in the turns after it.
    for (let turn = 0; turn < 10; turn++) await Promise.resolve();
    return hung;
  });
  return Promise.all(
    calls.map(async (promise): Promise<Outcome> => {
      try {
        const value = await Promise.race([promise, afterReady]);
        return value === hung ? { kind: "pending" } : { kind: "resolved", value };
      } catch (error) {
        return { kind: "rejected", error };
      }
    }),
  );
}

/** One call made as a user would: a promise must come back without a synchronous throw. */
function invoke(made: Call, spool: Spool, writer: Writer, consumers: Consumer[]): unknown {
  if (made.synchronous) {
    try {
      const result = made.run(spool, writer);
      if (made.name === "consume") consumers.push(result as Consumer);
      // A named writer's append is a promise like any other.
      return result instanceof Promise ? result : undefined;
    } catch (error) {
      expect(tagOf(error), `${made.name} threw ${String(tagOf(error))}`).toBeOneOf([
        ...made.documented,
      ]);
      return undefined;
    }
  }
  let promise: unknown;
  expect(() => {
    promise = made.run(spool, writer);
  }, `${made.name} throws synchronously`).not.toThrow();
  expect(promise).toBeInstanceOf(Promise);
  return promise;
}

describe("the public API under arbitrary arguments (fast-check)", () => {
  it("garbage appends between batches reject typed; the others read back intact", async () => {
    const operation = fc.oneof(
      fc.record({
        kind: fc.constant("append" as const),
        payload: validPayload,
        options: validOptions,
      }),
      fc.record({ kind: fc.constant("append" as const), payload: garbage, options: validOptions }),
      fc.record({ kind: fc.constant("append" as const), payload: validPayload, options: garbage }),
      fc.constant({ kind: "settle" as const }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 30 }), async (operations) => {
        const disk = new MemoryDisk();
        const spool = await openSpool({
          dir: "fuzzed",
          adapter: memoryAdapter(disk),
          segmentByteSize: SEGMENT_BYTE_SIZE,
        });
        const writer = spool.writer();
        const before = await writer.append("before the garbage");
        const appends: { promise: Promise<unknown>; bytes: Uint8Array | undefined }[] = [];
        const outcomes: Outcome[] = [];
        let round: Promise<unknown>[] = [];
        // Calls run in rounds cut by `settle`: each round is one batch or a few.
        const endRound = async (at: number): Promise<void> => {
          const text = `marker ${at}`;
          const marker = writer.append(text);
          appends.push({ promise: marker, bytes: new TextEncoder().encode(text) });
          // The readiness signal: an append made after the round's is confirmed only after
          // every earlier one of the thread was confirmed or refused.
          outcomes.push(...(await settleAll([...round, marker], marker)));
          round = [];
        };
        for (const [at, next] of operations.entries()) {
          if (next.kind === "settle") {
            await endRound(at);
            continue;
          }
          let promise: unknown;
          expect(() => {
            promise = writer.append(real(next.payload) as never, real(next.options) as never);
          }, "append throws synchronously").not.toThrow();
          round.push(promise as Promise<unknown>);
          appends.push({
            promise: promise as Promise<unknown>,
            bytes: expectedBytes(next.payload),
          });
        }
        await endRound(operations.length);
        const after = await writer.append("after the garbage");
        expect(spool.stats().state).not.toMatch(/failed|broken/);
        await spool.close();
        const stored = await readBack(disk);
        expect(stored.get(before.seq)).toEqual(new TextEncoder().encode("before the garbage"));
        expect(stored.get(after.seq)).toEqual(new TextEncoder().encode("after the garbage"));
        for (const [at, { bytes }] of appends.entries()) {
          const outcome = outcomes[at]!;
          expect(outcome.kind, `append ${at} settles`).not.toBe("pending");
          if (outcome.kind === "rejected") {
            expect(tagOf(outcome.error), String(outcome.error)).toBeOneOf([
              "InvalidPayload",
              "InvalidArgument",
            ]);
          } else if (outcome.kind === "resolved") {
            const { seq } = outcome.value as { seq: number };
            expect(bytes).toBeDefined();
            expect(stored.get(seq)).toEqual(bytes);
          }
        }
      }),
      { numRuns: NUM_RUNS },
    );
  }, 120_000);

  it("every call settles as documented; acknowledged appends read back intact", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 30 }), async (calls) => {
        const disk = new MemoryDisk();
        const spool = await openSpool({
          dir: "fuzzed",
          adapter: memoryAdapter(disk),
          segmentByteSize: SEGMENT_BYTE_SIZE,
          maxAttempts: 2,
        });
        const writer = spool.writer();
        const before = await writer.append("before the garbage");
        const made: { call: Call; promise: Promise<unknown> }[] = [];
        const consumers: Consumer[] = [];
        for (const next of calls) {
          const promise = invoke(next, spool, writer, consumers);
          if (promise instanceof Promise) made.push({ call: next, promise });
        }
        const after = await writer.append("after the garbage");
        expect(spool.stats().state).not.toMatch(/failed|broken/);
        for (const consumer of consumers) await consumer.stop();
        expect(spool.stats().state).not.toMatch(/failed|broken/);
        // The readiness signal: close settles every append and every index write before it.
        const closed = spool.close();
        const outcomes = await settleAll(
          made.map(({ promise }) => promise),
          closed,
        );
        await closed;
        const stored = await readBack(disk);
        expect(stored.get(before.seq)).toEqual(new TextEncoder().encode("before the garbage"));
        expect(stored.get(after.seq)).toEqual(new TextEncoder().encode("after the garbage"));
        for (const [at, { call: made1 }] of made.entries()) {
          const outcome = outcomes[at]!;
          expect(outcome.kind, `${made1.name} settles`).not.toBe("pending");
          if (outcome.kind === "rejected") {
            const tag = tagOf(outcome.error);
            expect(tag, `${made1.name} rejected: ${String(outcome.error)}`).toBeOneOf([
              ...made1.documented,
            ]);
          } else if (outcome.kind === "resolved" && made1.name === "append") {
            // Acknowledged: stored exactly as the oracle says the caller's value shows.
            const { seq } = outcome.value as { seq: number };
            expect(made1.bytes).toBeDefined();
            expect(stored.get(seq)).toEqual(made1.bytes);
          }
        }
      }),
      { numRuns: NUM_RUNS },
    );
  }, 120_000);
});

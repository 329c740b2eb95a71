import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openSpool, type Spool, type Writer } from "../src/index.js";

/**
 * The public API fed arbitrary values, between valid appends (fast-check prints the seed and
 * the shrunk case on failure; rerun with `fc.assert(..., { seed, path })`).
 */

/** Every tag of SpoolError: what a public call may reject (or a sync call throw) with. */
const DOCUMENTED_TAGS = new Set([
  "ConfigInvalid",
  "RecordTooLarge",
  "InvalidPayload",
  "InvalidArgument",
  "SpoolFailed",
  "SpoolClosed",
  "SpoolUnreachable",
  "FlushFailed",
  "SpoolOverloaded",
  "StorageFailed",
  "SpoolCorrupt",
  "NotLeased",
  "SpoolFull",
  "SpoolLocked",
]);

// Small segments keep each run's memory small; a run's few KiB stay in the first segment.
const SEGMENT_BYTE_SIZE = 256 * 1024;
const NUM_RUNS = 40;

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

/** A valid payload in one of the shapes append takes, built from `bytes`. */
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

/** What the issue found, and whatever fast-check makes of "anything". */
const garbage: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(123, true, null, undefined, [1, 2], {}, Number.NaN, -1, Symbol("s")),
  fc.record({ byteLength: fc.oneof(fc.double(), fc.integer(), fc.string()) }),
  fc.anything({ withTypedArray: true, withBigInt: true, withMap: true, withSet: true }),
);

type Operation =
  | { readonly kind: "append"; readonly payload: unknown; readonly options: unknown }
  | { readonly kind: "writer"; readonly name: unknown }
  | { readonly kind: "settle" };

const appendOperation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant("append" as const), payload: validPayload, options: validOptions }),
  fc.record({ kind: fc.constant("append" as const), payload: garbage, options: validOptions }),
  fc.record({ kind: fc.constant("append" as const), payload: validPayload, options: garbage }),
  fc.record({ kind: fc.constant("writer" as const), name: garbage }),
  fc.constant({ kind: "settle" as const }),
);

type Outcome = { readonly settled: true; readonly error?: unknown } | { readonly settled: false };

/**
 * Waits for every call to settle, or for the readiness signal `ready` (by which every call
 * must have settled) and reports which calls had not.
 */
async function settleAll(calls: Promise<unknown>[], ready: Promise<void>): Promise<Outcome[]> {
  const hung = Symbol("hung");
  const afterReady = ready.then(async () => {
    // The continuations of calls settled with the signal run in the turns after it.
    for (let turn = 0; turn < 10; turn++) await Promise.resolve();
    return hung;
  });
  return Promise.all(
    calls.map(async (call): Promise<Outcome> => {
      try {
        const value = await Promise.race([call, afterReady]);
        return value === hung ? { settled: false } : { settled: true };
      } catch (error) {
        return { settled: true, error };
      }
    }),
  );
}

function tagOf(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { _tag?: unknown })._tag : error;
}

/** Reads every record back after reopening, by seq. */
async function readBack(disk: MemoryDisk, from: number): Promise<Map<number, Uint8Array>> {
  const spool = await openSpool({
    dir: "fuzzed",
    adapter: memoryAdapter(disk),
    segmentByteSize: SEGMENT_BYTE_SIZE,
  });
  const stored = new Map<number, Uint8Array>();
  for await (const record of spool.records({ from }))
    stored.set(record.seq, record.payload.slice());
  await spool.close();
  return stored;
}

/** Runs the operations: each call's promise, and the bytes each append should have stored. */
function runOperations(
  spool: Spool,
  operations: readonly Operation[],
): { calls: Promise<unknown>[]; appended: Map<Promise<unknown>, Uint8Array | undefined> } {
  const calls: Promise<unknown>[] = [];
  const appended = new Map<Promise<unknown>, Uint8Array | undefined>();
  let writer: Writer = spool.writer();
  for (const operation of operations) {
    if (operation.kind === "writer") {
      try {
        writer = spool.writer(operation.name as string);
      } catch (error) {
        calls.push(Promise.reject(error));
      }
    } else if (operation.kind === "append") {
      const call = writer.append(operation.payload as never, operation.options as never);
      calls.push(call);
      appended.set(call, expectedBytes(operation.payload));
    }
  }
  return { calls, appended };
}

describe("the public API under arbitrary arguments (fast-check)", () => {
  it("garbage appends reject typed; every acknowledged append reads back intact", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(appendOperation, { minLength: 1, maxLength: 30 }),
        async (operations) => {
          const disk = new MemoryDisk();
          const spool = await openSpool({
            dir: "fuzzed",
            adapter: memoryAdapter(disk),
            segmentByteSize: SEGMENT_BYTE_SIZE,
          });
          const before = await spool.writer().append("before the garbage");
          // Calls run in rounds cut by `settle`: each round is one batch or a few.
          const rounds: Operation[][] = [[]];
          for (const operation of operations) {
            if (operation.kind === "settle") rounds.push([]);
            else rounds.at(-1)!.push(operation);
          }
          const calls: Promise<unknown>[] = [];
          const outcomes: Outcome[] = [];
          const appended = new Map<Promise<unknown>, Uint8Array | undefined>();
          for (const [at, round] of rounds.entries()) {
            const run = runOperations(spool, round);
            // The readiness signal: an append made after the round's calls is confirmed
            // only after every earlier one of the thread was confirmed or refused.
            const text = `marker ${at}`;
            const marker = spool.writer().append(text);
            calls.push(...run.calls, marker);
            for (const [call, bytes] of run.appended) appended.set(call, bytes);
            appended.set(marker, new TextEncoder().encode(text));
            outcomes.push(
              ...(await settleAll(
                run.calls,
                marker.then(() => undefined),
              )),
            );
            outcomes.push(
              ...(await settleAll(
                [marker],
                marker.then(() => undefined),
              )),
            );
          }
          const after = await spool.writer().append("after the garbage");
          expect(spool.stats().state).not.toMatch(/failed|broken/);
          await spool.close();
          const stored = await readBack(disk, before.seq);
          expect(stored.get(before.seq)).toEqual(new TextEncoder().encode("before the garbage"));
          expect(stored.get(after.seq)).toEqual(new TextEncoder().encode("after the garbage"));
          for (const [at, call] of calls.entries()) {
            const outcome = outcomes[at]!;
            expect(outcome.settled).toBe(true);
            if (!outcome.settled) continue;
            if (outcome.error !== undefined) {
              expect(DOCUMENTED_TAGS).toContain(tagOf(outcome.error));
              continue;
            }
            // Acknowledged: stored exactly as the oracle says the caller's value shows.
            const { seq } = (await call) as { seq: number };
            expect(appended.get(call)).toBeDefined();
            expect(stored.get(seq)).toEqual(appended.get(call));
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  }, 120_000);

  // take, takeMany, ack and nack check their arguments in a parallel change (issue 17's
  // finding 6): this asks only that each call settles with a documented tagged error.
  it("take, takeMany, ack and nack settle with a result or a documented tagged error", async () => {
    const seqOrGarbage = fc.oneof(fc.integer({ min: -2, max: 40 }), garbage);
    const consumerOperation = fc.oneof(
      fc.record({ kind: fc.constant("take" as const), options: garbage }),
      fc.record({ kind: fc.constant("takeMany" as const), count: garbage, options: garbage }),
      fc.record({ kind: fc.constant("ack" as const), seq: seqOrGarbage }),
      fc.record({ kind: fc.constant("nack" as const), seq: seqOrGarbage, options: garbage }),
      fc.record({ kind: fc.constant("append" as const), payload: validPayload }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(consumerOperation, { minLength: 1, maxLength: 30 }),
        async (operations) => {
          const disk = new MemoryDisk();
          const spool = await openSpool({
            dir: "fuzzed",
            adapter: memoryAdapter(disk),
            segmentByteSize: SEGMENT_BYTE_SIZE,
          });
          const writer = spool.writer();
          const before = await writer.append("before the garbage");
          const calls: Promise<unknown>[] = [];
          const appended = new Map<Promise<unknown>, Uint8Array | undefined>();
          for (const operation of operations) {
            const call = (async () => {
              switch (operation.kind) {
                case "take":
                  return spool.take(operation.options as never);
                case "takeMany":
                  return spool.takeMany(operation.count as never, operation.options as never);
                case "ack":
                  return spool.ack(operation.seq as never);
                case "nack":
                  return spool.nack(operation.seq as never, operation.options as never);
                case "append":
                  return writer.append(operation.payload as never);
              }
            })();
            calls.push(call);
            if (operation.kind === "append") appended.set(call, expectedBytes(operation.payload));
          }
          const after = await writer.append("after the garbage");
          // The readiness signal: close settles every append and every index write before it.
          const closed = spool.close();
          const outcomes = await settleAll(calls, closed);
          await closed;
          const stored = await readBack(disk, before.seq);
          expect(stored.get(after.seq)).toEqual(new TextEncoder().encode("after the garbage"));
          for (const [at, call] of calls.entries()) {
            const outcome = outcomes[at]!;
            expect(outcome.settled, `call ${at} (${operations[at]!.kind}) settles`).toBe(true);
            if (!outcome.settled) continue;
            if (outcome.error !== undefined) {
              const tag = tagOf(outcome.error);
              expect(
                DOCUMENTED_TAGS,
                `${operations[at]!.kind}: ${String(outcome.error)}`,
              ).toContain(tag);
            } else if (appended.has(call)) {
              const { seq } = (await call) as { seq: number };
              expect(stored.get(seq)).toEqual(appended.get(call));
            }
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  }, 120_000);
});

/**
 * The conformance suite for flush adapters: what any {@link FlushAdapter} must do for Spool to
 * keep its promise. A user who writes an adapter runs
 *
 *     testFlushAdapter("my adapter", async () => ({ dir, factory: myAdapter() }));
 *
 * in a vitest file, or runs {@link flushAdapterChecks} in any other runner. The checks: the
 * synchronizer's model paths (a path for every declared step of its flowchart, and simple paths
 * to `closed` and `broken`) run through the adapter with the real runtime; acknowledged appends
 * survive close and reopen; a torn tail is cut and everything before it kept; a failed flush
 * fails its writers and nothing acknowledged before it is lost; and, when the store can
 * simulate one, acknowledged appends survive a power cut.
 */

import { delegatingAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  byteOffset,
  byteSize,
  type FlushAdapter,
  FlushFailed,
  recordByteSize,
  segmentNumber,
} from "@spool/core";
import { openSpool } from "../Spool.js";
import { type FreshStore, runSynchronizerPath } from "./SynchronizerHarness.js";
import { coveringPaths, declaredSynchronizerSteps } from "./SynchronizerModel.js";

/** A fresh store for the suite: an empty directory (or disk) and the adapter factory over it. */
export interface AdapterStore extends FreshStore {
  /**
   * Simulates a power cut of the store as it is now (the spool is abandoned, not closed) and
   * returns a factory over what survived. Omit it when the store cannot simulate one.
   */
  readonly powerCut?: (seed: number) => AdapterFactory;
}

/** One named check. @example for (const check of flushAdapterChecks(fresh)) await check.run() */
export interface AdapterCheck {
  readonly name: string;
  readonly run: () => Promise<void>;
}

// Small segments and pages so a few hundred appends cross segments, as a long-lived spool does.
const SPOOL_OPTIONS = { segmentByteSize: 64 * 1024, pageByteSize: 4096, indexSegmentEntries: 64 };
const APPENDS = 400;
const WRITERS = 4;

class CheckFailed extends Error {}

function expectThat(holds: boolean, what: string): void {
  if (!holds) throw new CheckFailed(what);
}

function payloadOf(n: number): Uint8Array {
  return new TextEncoder().encode(`message ${n} `.padEnd(40 + ((n * 53) % 700), "."));
}

/** Appends `count` messages from {@link WRITERS} writers at once; returns payloads by seq. */
async function appendMany(
  factory: AdapterFactory,
  dir: string,
  count: number,
  from = 0,
): Promise<Map<number, Uint8Array>> {
  const spool = await openSpool({ dir, adapter: factory, ...SPOOL_OPTIONS });
  const acked = new Map<number, Uint8Array>();
  try {
    const writers = Array.from({ length: WRITERS }, () => spool.writer());
    await Promise.all(
      Array.from({ length: count }, async (_, n) => {
        const payload = payloadOf(from + n);
        const { seq } = await writers[n % WRITERS]!.append(payload);
        acked.set(seq, payload);
      }),
    );
  } finally {
    await spool.close();
  }
  return acked;
}

async function expectPresent(
  factory: AdapterFactory,
  dir: string,
  acked: ReadonlyMap<number, Uint8Array>,
) {
  const spool = await openSpool({ dir, adapter: factory, ...SPOOL_OPTIONS });
  try {
    const found = new Map<number, Uint8Array>();
    for await (const record of spool.records()) found.set(record.seq, record.payload.slice());
    for (const [seq, payload] of acked) {
      const read = found.get(seq);
      expectThat(read !== undefined, `acknowledged append ${seq} is missing after reopen`);
      expectThat(Buffer.from(read!).equals(payload), `acknowledged append ${seq} changed`);
    }
    return spool.recovery;
  } finally {
    await spool.close();
  }
}

/** Wraps a factory so that the flush after `armed()` is called fails with EIO once. */
function failingOnce(factory: AdapterFactory) {
  let armed = false;
  const wrapped: AdapterFactory = async (options) => {
    const adapter = await factory(options);
    const flush: FlushAdapter["flush"] = async (region, mode) => {
      if (armed && (options.fileKind ?? "data") === "data") {
        armed = false;
        const failure = { file: "injected", offset: region.offset, byteSize: region.byteSize };
        throw new FlushFailed({ ...failure, code: "EIO", cause: undefined });
      }
      return adapter.flush(region, mode);
    };
    return delegatingAdapter(adapter, { flush });
  };
  return { factory: wrapped, arm: () => (armed = true) };
}

async function withStore(
  fresh: () => Promise<AdapterStore>,
  use: (store: AdapterStore) => Promise<void>,
) {
  const store = await fresh();
  try {
    await use(store);
  } finally {
    await store.remove?.();
  }
}

/**
 * The checks, as named async functions, for any test runner.
 *
 * @example
 * for (const check of flushAdapterChecks(fresh)) await check.run();
 */
export function flushAdapterChecks(fresh: () => Promise<AdapterStore>): AdapterCheck[] {
  return [
    {
      name: "runs a synchronizer model path for every declared step through the real runtime",
      run: async () => {
        const covered = new Set<string>();
        for (const path of coveringPaths()) {
          const report = await runSynchronizerPath(path, await fresh());
          for (const step of report.steps) covered.add(step);
        }
        const missing = [...declaredSynchronizerSteps()].filter((step) => !covered.has(step));
        expectThat(missing.length === 0, `steps not covered: ${missing.join(", ")}`);
      },
    },
    {
      name: "keeps every acknowledged append across close and reopen",
      run: () =>
        withStore(fresh, async ({ factory, dir }) => {
          const acked = await appendMany(factory, dir, APPENDS);
          expectThat(acked.size === APPENDS, `${acked.size} of ${APPENDS} appends acknowledged`);
          await expectPresent(factory, dir, acked);
        }),
    },
    {
      name: "cuts a torn tail on reopen and keeps everything before it",
      run: () =>
        withStore(fresh, async ({ factory, dir }) => {
          const acked = await appendMany(factory, dir, 50);
          await writeGarbageAfter(factory, dir, acked);
          const report = await expectPresent(factory, dir, acked);
          expectThat(report.tornTailTruncated, "the garbage after the last record was not cut");
          const more = await appendMany(factory, dir, 50, 50);
          await expectPresent(factory, dir, new Map([...acked, ...more]));
        }),
    },
    {
      name: "fails the writers of a failed flush and loses nothing acknowledged before it",
      run: () =>
        withStore(fresh, async ({ factory, dir }) => {
          const acked = await appendMany(factory, dir, 100);
          const faulty = failingOnce(factory);
          const spool = await openSpool({ dir, adapter: faulty.factory, ...SPOOL_OPTIONS });
          faulty.arm();
          const outcome = await spool
            .writer()
            .append("after the fault")
            .then(
              () => "acknowledged",
              (error: unknown) => (error instanceof FlushFailed ? "FlushFailed" : String(error)),
            );
          await spool.close();
          expectThat(outcome === "FlushFailed", `an append in a failed flush was ${outcome}`);
          await expectPresent(factory, dir, acked);
        }),
    },
    {
      name: "keeps every acknowledged append after a power cut (when the store can cut power)",
      run: () =>
        withStore(fresh, async (store) => {
          if (store.powerCut === undefined) return;
          for (const seed of [1, 2, 3]) {
            const acked = await appendWithoutClose(store, seed);
            await expectPresent(store.powerCut(seed), store.dir, acked);
          }
        }),
    },
  ];
}

/** Appends and abandons the spool without closing it, as a crash would. */
async function appendWithoutClose(store: AdapterStore, seed: number) {
  const spool = await openSpool({ dir: store.dir, adapter: store.factory, ...SPOOL_OPTIONS });
  const writer = spool.writer();
  const acked = new Map<number, Uint8Array>();
  await Promise.all(
    Array.from({ length: 100 }, async (_, n) => {
      const payload = payloadOf(seed * 1000 + n);
      const { seq } = await writer.append(payload);
      acked.set(seq, payload);
    }),
  );
  // Appends still in flight at the cut: never acknowledged, so never counted.
  for (let n = 0; n < 20; n++) writer.append(payloadOf(n)).catch(() => undefined);
  return acked;
}

/** Writes non-zero bytes right after the last record of the first segment, and flushes them. */
async function writeGarbageAfter(
  factory: AdapterFactory,
  dir: string,
  acked: ReadonlyMap<number, Uint8Array>,
) {
  let end = 0;
  for (const payload of acked.values()) end += recordByteSize(payload.byteLength);
  expectThat(end + 64 <= SPOOL_OPTIONS.segmentByteSize, "the records outgrew one segment");
  const adapter = await factory({ dir, ...SPOOL_OPTIONS });
  try {
    const segment = segmentNumber(1);
    const region = { segment, offset: byteOffset(end), byteSize: byteSize(64) };
    await adapter.map(segment);
    adapter.stage(region).fill(0xab);
    await adapter.write(region);
    await adapter.flush(region, "sync");
  } finally {
    await adapter.close();
  }
}

/**
 * Registers the conformance suite as vitest tests.
 *
 * @example
 * testFlushAdapter("file", async () => ({ dir: mkdtempSync(...), factory: fileAdapter() }));
 */
export async function testFlushAdapter(
  name: string,
  fresh: () => Promise<AdapterStore>,
): Promise<void> {
  const { describe, it } = await import("vitest");
  describe(`${name} conforms to the flush adapter protocol`, () => {
    for (const check of flushAdapterChecks(fresh)) it(check.name, check.run, 120_000);
  });
}

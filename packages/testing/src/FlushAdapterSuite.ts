/**
 * The conformance suite for flush adapters: what any {@link FlushAdapter} must do for Spool to
 * keep its promise. A user who writes an adapter runs
 *
 *     testFlushAdapter("my adapter", async () => ({ dir, factory: myAdapter() }));
 *
 * in a vitest file, or runs {@link flushAdapterChecks} in any other runner. The checks: the
 * synchronizer's model paths (a path for every declared step of its flowchart, and simple paths
 * to `closed` and `broken`) run through the adapter with the real runtime; acknowledged appends
 * survive close and reopen; every sync flush has made the bytes written before it durable by
 * the time it resolves; acknowledged appends survive a power cut; a torn tail is cut and
 * everything before it kept; a failed flush fails its writers and nothing acknowledged before
 * it is lost.
 *
 * Durability is observed, not taken on trust. An adapter on files through `node:fs` (and
 * `@riaskov/mmap-io` maps) needs nothing more: the suite watches its fdatasync, fsync and msync
 * calls ({@link DurabilityRecorder}) and cuts power by putting each file back as its last
 * completed sync left it. An adapter that keeps its bytes anywhere else (memory, a remote
 * store, its own native code) must give the store `durableBytes` and `powerCut`; without them
 * the durability checks fail, saying so.
 */

import { realpathSync } from "node:fs";
import * as path from "node:path";
import { openSpool, type Spool } from "@spool/actors";
import { delegatingAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  byteOffset,
  byteSize,
  type FlushAdapter,
  FlushFailed,
  recordByteSize,
  segmentFileName,
  segmentNumber,
} from "@spool/core";
import { DurabilityRecorder } from "./DurabilityRecorder.js";
import { type DurableBytes, observedFactory } from "./FlushObserver.js";
import { type FreshStore, runSynchronizerPath } from "./SynchronizerHarness.js";
import { coveringPaths, declaredSynchronizerSteps } from "./SynchronizerPaths.js";

/**
 * A fresh store for the suite: an empty directory (or disk) and the adapter factory over it.
 *
 * @example
 * const store: AdapterStore = { dir, factory: fileAdapter(), remove: () => rm(dir, { recursive: true }) };
 */
export interface AdapterStore extends FreshStore {
  /**
   * Simulates a power cut of the store as it is now (the spool is abandoned, not closed) and
   * returns a factory over what survived. Required for a store the suite cannot watch (not
   * files written through `node:fs` or mmap-io); a store on files leaves it out, and the suite
   * cuts power itself from the syncs it saw.
   */
  readonly powerCut?: (seed: number) => AdapterFactory;
  /**
   * What a power cut right now would keep of a region of the spool's data or index file.
   * Required, as `powerCut` is, for a store the suite cannot watch.
   */
  readonly durableBytes?: DurableBytes;
}

/** One named check. @example for (const check of flushAdapterChecks(fresh)) await check.run() */
export interface AdapterCheck {
  readonly name: string;
  readonly run: () => Promise<void>;
}

/**
 * A check found the adapter breaking its promise; the message says where.
 *
 * @example
 * await expect(check.run()).rejects.toBeInstanceOf(AdapterCheckFailed);
 */
export class AdapterCheckFailed extends Error {
  override readonly name = "AdapterCheckFailed";
}

// Small segments and pages so a few hundred appends cross segments, as a long-lived spool does.
const SPOOL_OPTIONS = { segmentByteSize: 64 * 1024, pageByteSize: 4096, indexSegmentEntries: 64 };
const APPENDS = 400;
const WRITERS = 4;

function expectThat(holds: boolean, what: string): void {
  if (!holds) throw new AdapterCheckFailed(what);
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
      name: "makes the bytes written before a sync flush durable by the time it resolves",
      run: () =>
        withStore(fresh, (store) =>
          withDurability(store, async (durable) => {
            const failures: string[] = [];
            const watched = observedFactory(store.factory, durable, failures);
            const acked = await appendMany(watched, store.dir, APPENDS);
            expectThat(acked.size === APPENDS, `${acked.size} of ${APPENDS} appends acknowledged`);
            const more = failures.length > 1 ? ` (and ${failures.length - 1} more)` : "";
            expectThat(failures.length === 0, `${failures[0]}${more}`);
          }),
        ),
    },
    {
      name: "keeps every acknowledged append after a power cut",
      run: () =>
        withStore(fresh, async (store) => {
          if (store.powerCut !== undefined) return powerCutOfStore(store, store.powerCut);
          if (store.durableBytes !== undefined) {
            expectThat(false, "a store that gives durableBytes must give powerCut too");
          }
          return powerCutOfFiles(store);
        }),
    },
  ];
}

/**
 * Runs `use` with what a power cut would keep of the store's files: the store's own answer, or
 * the syncs a {@link DurabilityRecorder} sees meanwhile.
 */
async function withDurability(
  store: AdapterStore,
  use: (durable: DurableBytes) => Promise<void>,
): Promise<void> {
  if (store.durableBytes !== undefined) return use(store.durableBytes);
  const recorder = await DurabilityRecorder.install();
  try {
    await use((kind, region) =>
      recorder.durableBytes(
        path.join(store.dir, segmentFileName(region.segment, kind)),
        region.offset,
        region.byteSize,
      ),
    );
  } finally {
    recorder.uninstall();
  }
}

/** Three rounds of appends cut off by the store's own simulated power cut. */
async function powerCutOfStore(
  store: AdapterStore,
  powerCut: (seed: number) => AdapterFactory,
): Promise<void> {
  for (const seed of [1, 2, 3]) {
    const { acked } = await appendWithoutClose(store, seed);
    await expectPresent(powerCut(seed), store.dir, acked);
  }
}

/**
 * Three rounds of appends cut off by a power cut of the files: each file is put back as its
 * last sync before the cut left it (after the abandoned spool is closed, so nothing it still
 * does lands after the cut), and the spool reopened on them.
 */
async function powerCutOfFiles(store: AdapterStore): Promise<void> {
  const recorder = await DurabilityRecorder.install();
  try {
    for (const seed of [1, 2, 3]) {
      const { spool, acked } = await appendWithoutClose(store, seed);
      const image = recorder.cut();
      await spool.close().catch(() => undefined);
      expectThat(
        recorder.directories.has(realPath(store.dir)),
        `the suite saw no fdatasync, fsync or msync of a file in ${store.dir}, so it cannot cut ` +
          "power on this store: an adapter that keeps its bytes elsewhere gives the store " +
          "powerCut and durableBytes",
      );
      DurabilityRecorder.restore(image);
      await expectPresent(store.factory, store.dir, acked);
    }
  } finally {
    recorder.uninstall();
  }
}

/** `dir` as /proc names it (symbolic links resolved), or as given when it does not exist. */
function realPath(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/** Appends and abandons the spool without closing it, as a crash would. */
async function appendWithoutClose(
  store: AdapterStore,
  seed: number,
): Promise<{ spool: Spool; acked: Map<number, Uint8Array> }> {
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
  return { spool, acked };
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
 * Registers the conformance suite as vitest tests. `fresh` makes a new, empty store for each
 * check: on files, a directory and the factory (the suite watches the syncs itself); anywhere
 * else, also `durableBytes` and `powerCut` (see {@link AdapterStore}).
 *
 * @example
 * await testFlushAdapter("file", async () => {
 *   const dir = mkdtempSync(path.join(tmpdir(), "spool-"));
 *   return { dir, factory: fileAdapter(), remove: async () => rmSync(dir, { recursive: true }) };
 * });
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

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openSpool } from "@spool/actors";
import { delegatingAdapter, fileAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  ConfigInvalid,
  type FlushAdapter,
  FlushFailed,
  SpoolCorrupt,
  SpoolLocked,
  segmentFileName,
  segmentNumber,
} from "@spool/core";
import { testFlushAdapter } from "@spool/testing";
import { afterEach, describe, expect, it } from "vitest";
import { mirrorAdapter, verifyMirror } from "../src/index.js";

// Small segments so a few hundred appends cross data and index segments, as a long-lived
// spool does (the conformance suite's sizes).
const SPOOL_OPTIONS = { segmentByteSize: 64 * 1024, pageByteSize: 4096, indexSegmentEntries: 64 };
const APPENDS = 600;
const WRITERS = 8;

const made: string[] = [];

function temporaryDir(role: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `spool-mirror-${role}-`));
  made.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A payload whose size and bytes depend on `n`, so a misplaced record reads back different. */
function payloadOf(n: number): Uint8Array {
  return new TextEncoder().encode(`record ${n} `.padEnd(30 + ((n * 97) % 900), String(n % 10)));
}

/** Appends `count` payloads from {@link WRITERS} writers at once; payloads by acknowledged seq. */
async function appendMany(
  spool: Awaited<ReturnType<typeof openSpool>>,
  count: number,
): Promise<Map<number, Uint8Array>> {
  const writers = Array.from({ length: WRITERS }, (_, n) => spool.writer(`writer-${n}`));
  const acked = new Map<number, Uint8Array>();
  await Promise.all(
    Array.from({ length: count }, async (_, n) => {
      const payload = payloadOf(n);
      const { seq, durability } = await writers[n % WRITERS]!.append(payload);
      expect(durability).toBe("flushed");
      acked.set(seq, payload);
    }),
  );
  return acked;
}

/** Every record of the spool in `dir`, opened on its own with the default file adapter. */
async function recordsAlone(dir: string): Promise<Map<number, Uint8Array>> {
  const spool = await openSpool({ dir, ...SPOOL_OPTIONS });
  try {
    const found = new Map<number, Uint8Array>();
    for await (const record of spool.records())
      found.set(record.seq, new Uint8Array(record.payload));
    return found;
  } finally {
    await spool.close();
  }
}

/** `factory` with the data file's flushes passed through `flush` instead. */
function withDataFlush(
  factory: AdapterFactory,
  flush: (adapter: FlushAdapter, ...args: Parameters<FlushAdapter["flush"]>) => Promise<void>,
): AdapterFactory {
  return async (options) => {
    const adapter = await factory(options);
    if ((options.fileKind ?? "data") !== "data") return adapter;
    return delegatingAdapter(adapter, { flush: (region, mode) => flush(adapter, region, mode) });
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

// Long enough for a batch's write and both fdatasyncs on any disk CI uses, so an append that
// did not wait for the held flush would have resolved by then.
const SETTLE_MS = 200;

await testFlushAdapter("mirror adapter", async () => {
  const dir = temporaryDir("primary");
  const mirrorDir = temporaryDir("mirror");
  return {
    dir,
    factory: mirrorAdapter({ mirrorDir }),
    remove: async () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(mirrorDir, { recursive: true, force: true });
    },
  };
});

describe("mirrorAdapter", () => {
  it("leaves in the mirror directory alone every acknowledged record, same seq and payload", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    const spool = await openSpool({ dir, adapter: mirrorAdapter({ mirrorDir }), ...SPOOL_OPTIONS });
    const acked = await appendMany(spool, APPENDS).finally(() => spool.close());
    expect(acked.size).toBe(APPENDS);
    // The records crossed segments, so the mirror got every segment, not only the first.
    expect(existsSync(path.join(mirrorDir, segmentFileName(segmentNumber(3))))).toBe(true);

    const found = await recordsAlone(mirrorDir);
    expect(found.size).toBe(APPENDS);
    for (const [seq, payload] of acked) {
      expect(found.get(seq), `seq ${seq} in the mirror`).toEqual(payload);
    }
  });

  it("leaves the two directories byte-identical after a clean close", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    const spool = await openSpool({ dir, adapter: mirrorAdapter({ mirrorDir }), ...SPOOL_OPTIONS });
    await appendMany(spool, APPENDS).finally(() => spool.close());
    expect(await verifyMirror(dir, mirrorDir)).toEqual([]);
  });

  it("resolves no append before the mirror's flush completes", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    const held = deferred();
    let holding = false;
    const mirror = withDataFlush(fileAdapter(), async (adapter, region, mode) => {
      if (holding) await held.promise;
      return adapter.flush(region, mode);
    });
    const spool = await openSpool({
      dir,
      adapter: mirrorAdapter({ mirrorDir, mirror }),
      ...SPOOL_OPTIONS,
    });
    try {
      holding = true;
      let settled = false;
      const append = spool.writer().append("held on the mirror");
      append.then(
        () => (settled = true),
        () => (settled = true),
      );
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      expect(settled).toBe(false);
      held.resolve();
      await expect(append).resolves.toMatchObject({ seq: 1, durability: "flushed" });
    } finally {
      held.resolve();
      await spool.close();
    }
  });

  it("fails an append whose mirror flush fails with FlushFailed naming the mirror's file", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    let failing = false;
    const mirror = withDataFlush(fileAdapter(), async (adapter, region, mode) => {
      if (!failing) return adapter.flush(region, mode);
      // What the file adapter raises when fdatasync reports EIO: the disk lost the pages.
      const cause = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
      const file = segmentFileName(region.segment);
      throw new FlushFailed({ ...region, file, code: "EIO", cause });
    });
    const adapter = mirrorAdapter({ mirrorDir, mirror });
    const spool = await openSpool({ dir, adapter, ...SPOOL_OPTIONS });
    let before: Map<number, Uint8Array>;
    try {
      before = await appendMany(spool, 50);
      failing = true;
      const outcome = await spool
        .writer()
        .append("lost with the mirror's disk")
        .then(
          () => "acknowledged as durable",
          (error: unknown) => error,
        );
      expect(outcome).toBeInstanceOf(FlushFailed);
      expect(outcome).toMatchObject({
        code: "EIO",
        file: path.join(mirrorDir, segmentFileName(segmentNumber(1))),
      });
    } finally {
      await spool.close();
    }
    // Nothing acknowledged before the failure is lost, on either side.
    for (const side of [dir, mirrorDir]) {
      const found = await recordsAlone(side);
      for (const [seq, payload] of before) expect(found.get(seq), `seq ${seq}`).toEqual(payload);
    }
  });

  it("reports a failed mirror flush only after the primary's flush settled", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    let failing = false;
    let primaryFlushesDone = 0;
    const primary = withDataFlush(fileAdapter(), async (adapter, region, mode) => {
      // The slower disk: the mirror fails at once, and the primary is still flushing.
      if (failing) await new Promise((resolve) => setTimeout(resolve, 50));
      await adapter.flush(region, mode);
      primaryFlushesDone += 1;
    });
    const mirror = withDataFlush(fileAdapter(), async (adapter, region, mode) => {
      if (!failing) return adapter.flush(region, mode);
      const cause = Object.assign(new Error("EIO"), { code: "EIO" });
      throw new FlushFailed({
        ...region,
        file: segmentFileName(region.segment),
        code: "EIO",
        cause,
      });
    });
    const spool = await openSpool({
      dir,
      adapter: mirrorAdapter({ mirrorDir, primary, mirror }),
      ...SPOOL_OPTIONS,
    });
    try {
      failing = true;
      const doneBefore = primaryFlushesDone;
      await expect(spool.writer().append("one")).rejects.toBeInstanceOf(FlushFailed);
      expect(primaryFlushesDone).toBe(doneBefore + 1);
    } finally {
      await spool.close();
    }
  });

  it("removes a reclaimed segment from both directories", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    const spool = await openSpool({ dir, adapter: mirrorAdapter({ mirrorDir }), ...SPOOL_OPTIONS });
    try {
      const acked = await appendMany(spool, APPENDS);
      for (let count = 0; count < acked.size; count++) {
        const lease = await spool.take();
        expect(lease).toBeDefined();
        await spool.ack(lease!.seq);
      }
    } finally {
      await spool.close();
    }
    const first = segmentFileName(segmentNumber(1));
    expect(existsSync(path.join(dir, first))).toBe(false);
    expect(existsSync(path.join(mirrorDir, first))).toBe(false);
    expect(await verifyMirror(dir, mirrorDir)).toEqual([]);
  });

  it("locks the mirror directory while the spool is open", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    const spool = await openSpool({ dir, adapter: mirrorAdapter({ mirrorDir }), ...SPOOL_OPTIONS });
    try {
      await expect(openSpool({ dir: mirrorDir, ...SPOOL_OPTIONS })).rejects.toBeInstanceOf(
        SpoolLocked,
      );
    } finally {
      await spool.close();
    }
    // Closed, the mirror is a spool of its own again.
    const alone = await openSpool({ dir: mirrorDir, ...SPOOL_OPTIONS });
    await alone.close();
  });

  it("refuses a mirror directory that holds no spool while the primary holds one", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    const plain = await openSpool({ dir, ...SPOOL_OPTIONS });
    await plain.writer().append("written before the mirror existed");
    await plain.close();
    await expect(
      openSpool({ dir, adapter: mirrorAdapter({ mirrorDir }), ...SPOOL_OPTIONS }),
    ).rejects.toBeInstanceOf(SpoolCorrupt);
    // The refusal released both locks.
    await (await openSpool({ dir, ...SPOOL_OPTIONS })).close();
  });

  it("refuses an empty primary whose mirror holds records, rather than write over them", async () => {
    const dir = temporaryDir("primary");
    const mirrorDir = temporaryDir("mirror");
    const spool = await openSpool({ dir, adapter: mirrorAdapter({ mirrorDir }), ...SPOOL_OPTIONS });
    await appendMany(spool, 20).finally(() => spool.close());
    // The primary's disk is replaced by an empty one.
    rmSync(dir, { recursive: true, force: true });
    await expect(
      openSpool({ dir, adapter: mirrorAdapter({ mirrorDir }), ...SPOOL_OPTIONS }),
    ).rejects.toBeInstanceOf(SpoolCorrupt);
    expect((await recordsAlone(mirrorDir)).size).toBe(20);
  });

  it("refuses the spool's own directory as its mirror", async () => {
    const dir = temporaryDir("primary");
    await expect(
      openSpool({ dir, adapter: mirrorAdapter({ mirrorDir: path.join(dir, ".") }) }),
    ).rejects.toBeInstanceOf(ConfigInvalid);
  });
});

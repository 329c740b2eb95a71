import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { delegatingAdapter, fileAdapter, MemoryDisk, memoryAdapter } from "@spool/adapters";
import type { AdapterFactory, FlushAdapter, SegmentFileKind } from "@spool/core";
import { describe, expect, it } from "vitest";
import { AdapterCheckFailed, type AdapterStore, flushAdapterChecks } from "../src/index.js";

// The suite's own tests: adapters broken on purpose, each wrapped around a good one, must fail
// the checks that observe durability, with a message that says what went wrong.

const DURABLE_ON_FLUSH =
  "makes the bytes written before a sync flush durable by the time it resolves";
const POWER_CUT = "keeps every acknowledged append after a power cut";

/** `factory` with some of each adapter's methods replaced, given the adapter and its file. */
function broken(
  factory: AdapterFactory,
  overrides: (adapter: FlushAdapter, kind: SegmentFileKind) => Partial<FlushAdapter>,
): AdapterFactory {
  return async (options) => {
    const adapter = await factory(options);
    return delegatingAdapter(adapter, overrides(adapter, options.fileKind ?? "data"));
  };
}

/** Fresh stores on files, for `factory`. */
function onFiles(factory: AdapterFactory): () => Promise<AdapterStore> {
  return async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "spool-suite-"));
    return { dir, factory, remove: async () => rmSync(dir, { recursive: true, force: true }) };
  };
}

function runCheck(name: string, fresh: () => Promise<AdapterStore>): Promise<void> {
  const check = flushAdapterChecks(fresh).find((candidate) => candidate.name === name);
  if (check === undefined) throw new Error(`no check named ${name}`);
  return check.run();
}

// Resolves at once and lets the real flush finish whenever it does.
const confirmsEarly = broken(fileAdapter(), (adapter) => ({
  flush: (region, mode) => {
    adapter.flush(region, mode).catch(() => undefined);
    return Promise.resolve();
  },
}));

const flushesNothing = broken(fileAdapter(), () => ({ flush: async () => undefined }));

// Every second write of the data file never reaches it; the flush after it runs as usual.
const dropsWrites = broken(fileAdapter(), (adapter, kind) => {
  let writes = 0;
  return {
    write: (region) => {
      writes += 1;
      if (kind === "data" && writes % 2 === 0) return Promise.resolve();
      return adapter.write(region);
    },
  };
});

describe("the flush adapter suite fails a broken adapter", () => {
  it("that confirms a flush before it completed", async () => {
    const run = runCheck(DURABLE_ON_FLUSH, onFiles(confirmsEarly));
    await expect(run).rejects.toBeInstanceOf(AdapterCheckFailed);
    await expect(run).rejects.toThrow(
      /a sync flush of data segment 1 resolved, but a power cut then would lose the \d+ bytes written at offset 0/,
    );
  });

  it("whose flush does nothing", async () => {
    const run = runCheck(DURABLE_ON_FLUSH, onFiles(flushesNothing));
    await expect(run).rejects.toBeInstanceOf(AdapterCheckFailed);
    await expect(run).rejects.toThrow(/on stable storage, 0x[0-9a-f]{2} written/);
  });

  it("whose flush does nothing, when power is cut", async () => {
    const run = runCheck(POWER_CUT, onFiles(flushesNothing));
    await expect(run).rejects.toThrow(/acknowledged append \d+ is missing after reopen/);
  });

  it("that drops writes", async () => {
    const run = runCheck(DURABLE_ON_FLUSH, onFiles(dropsWrites));
    await expect(run).rejects.toBeInstanceOf(AdapterCheckFailed);
    await expect(run).rejects.toThrow(/a sync flush of data segment \d+ resolved, but a power cut/);
  });

  it("whose flush does nothing, on a store that says what is durable (memory)", async () => {
    const fresh = async (): Promise<AdapterStore> => {
      const disk = new MemoryDisk();
      return {
        dir: "/memory",
        factory: broken(memoryAdapter(disk), () => ({ flush: async () => undefined })),
        powerCut: (seed) => memoryAdapter(disk.powerCut(seed)),
        durableBytes: (kind, region) =>
          (kind === "index" ? disk.index() : disk).durable
            .get(region.segment)
            ?.slice(region.offset, region.offset + region.byteSize),
      };
    };
    await expect(runCheck(DURABLE_ON_FLUSH, fresh)).rejects.toThrow(/would lose/);
    await expect(runCheck(POWER_CUT, fresh)).rejects.toThrow(/missing after reopen/);
  });

  it("on a store it cannot watch that gives no way to cut power, instead of passing it", async () => {
    const fresh = async (): Promise<AdapterStore> => ({
      dir: "/memory",
      factory: memoryAdapter(new MemoryDisk()),
    });
    await expect(runCheck(POWER_CUT, fresh)).rejects.toThrow(/cannot cut power on this store/);
    await expect(runCheck(DURABLE_ON_FLUSH, fresh)).rejects.toThrow(
      /nothing of that file is known to be on stable storage/,
    );
  });
});

describe("the flush adapter suite passes the file adapter it broke above, unbroken", () => {
  for (const name of [DURABLE_ON_FLUSH, POWER_CUT]) {
    it(name, () => runCheck(name, onFiles(fileAdapter())));
  }
});

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSpool, openSpoolThread, type ThreadAdapterName } from "../src/index.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe("the spool in a thread of its own (the other placement)", () => {
  // The file adapter blocks the spool's thread for small flushes by default there; 0 turns
  // that off (every flush through libuv's pool).
  it.each<[ThreadAdapterName, string, number | undefined]>([
    ["file", "the thread's default flushes", undefined],
    ["file", "blockingFlushByteSizeMax 0", 0],
    ["mmap-msync", "msync", undefined],
  ])(
    "writers in the application's thread append through it (%s adapter, %s), and every acknowledged append is kept",
    async (adapter, _flushes, blockingFlushByteSizeMax) => {
      const dir = await mkdtemp(path.join(tmpdir(), "spool-thread-"));
      dirs.push(dir);
      const spool = await openSpoolThread({
        dir,
        adapter,
        ...(blockingFlushByteSizeMax === undefined ? {} : { blockingFlushByteSizeMax }),
      });
      const writers = await Promise.all([spool.writer(), spool.writer()]);
      const acked = new Map<number, string>();
      await Promise.all(
        writers.map(async (writer, w) => {
          await Promise.all(
            Array.from({ length: 100 }, async (_, n) => {
              const payload = `writer ${w} message ${n}`;
              acked.set((await writer.append(payload)).seq, payload);
            }),
          );
        }),
      );
      expect((await spool.stats()).flushes).toBeGreaterThan(0);
      for (const writer of writers) writer.close();
      await spool.close();
      const reopened = await openSpool({ dir });
      const found = new Map<number, string>();
      for await (const record of reopened.records()) {
        found.set(record.seq, new TextDecoder().decode(record.payload));
      }
      await reopened.close();
      expect(found).toEqual(acked);
      expect(acked.size).toBe(200);
    },
    30_000,
  );

  it("a spool that cannot open rejects with the reason", async () => {
    await expect(openSpoolThread({ dir: "/dev/null/spool" })).rejects.toThrow(/ENOTDIR/);
    const dir = await mkdtemp(path.join(tmpdir(), "spool-thread-"));
    dirs.push(dir);
    await expect(openSpoolThread({ dir, blockingFlushByteSizeMax: -1 })).rejects.toMatchObject({
      _tag: "ConfigInvalid",
      field: "blockingFlushByteSizeMax",
    });
  });
});

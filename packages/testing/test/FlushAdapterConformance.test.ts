import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileAdapter, MemoryDisk, memoryAdapter, mmapAdapter } from "@spool/adapters";
import { testFlushAdapter } from "../src/index.js";

function onDisk(factory: ReturnType<typeof fileAdapter>) {
  return async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "spool-conformance-"));
    return { dir, factory, remove: async () => rmSync(dir, { recursive: true, force: true }) };
  };
}

await testFlushAdapter("memory adapter", async () => {
  const disk = new MemoryDisk();
  return {
    dir: "/memory",
    factory: memoryAdapter(disk),
    powerCut: (seed: number) => memoryAdapter(disk.powerCut(seed)),
    // The memory disk keeps what flushes covered apart from what writes made.
    durableBytes: (kind, region) =>
      (kind === "index" ? disk.index() : disk).durable
        .get(region.segment)
        ?.slice(region.offset, region.offset + region.byteSize),
  };
});
await testFlushAdapter("file adapter", onDisk(fileAdapter()));
// Small flushes by fdatasyncSync on this thread: the suite watches those too.
await testFlushAdapter(
  "file adapter, blocking flushes",
  onDisk(fileAdapter({ blockingFlushByteSizeMax: 64 * 1024 })),
);
await testFlushAdapter("mmap adapter", onDisk(mmapAdapter()));
await testFlushAdapter("mmap adapter, msync", onDisk(mmapAdapter({ flushMethod: "msync" })));

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileAdapter, MemoryDisk, memoryAdapter, mmapAdapter } from "@spool/adapters";
import { testFlushAdapter } from "../src/testing/index.js";

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
  };
});
await testFlushAdapter("file adapter", onDisk(fileAdapter()));
await testFlushAdapter("mmap adapter", onDisk(mmapAdapter()));

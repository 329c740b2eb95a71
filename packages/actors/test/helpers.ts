import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type MemoryDisk, memoryAdapter } from "@spool/adapters";
import { type AdapterFactory, decodeRecord, type FlushAdapter, type Region } from "@spool/core";
import { afterEach } from "vitest";

const made: string[] = [];

/** A fresh directory under the OS temp dir, removed after the test. */
export function temporaryDirectory(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "spool-test-"));
  made.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Wraps an adapter factory so a test can watch and interfere with every call. */
export function spyAdapter(
  inner: AdapterFactory,
  hooks: {
    readonly onFlush?: (region: Region) => void | Promise<void>;
    readonly onMap?: (segment: number) => void;
  },
): AdapterFactory {
  return async (options) => {
    const adapter = await inner(options);
    const spied: FlushAdapter = {
      name: `spy(${adapter.name})`,
      readManifest: (name) => adapter.readManifest(name),
      writeManifest: (text, name) => adapter.writeManifest(text, name),
      listSegments: () => adapter.listSegments(),
      prepareSegment: (segment) => adapter.prepareSegment(segment),
      isMapped: (segment) => adapter.isMapped(segment),
      map: async (segment) => {
        hooks.onMap?.(segment);
        await adapter.map(segment);
      },
      stage: (region) => adapter.stage(region),
      write: (region) => adapter.write(region),
      flush: async (region, mode) => {
        await hooks.onFlush?.(region);
        await adapter.flush(region, mode);
      },
      read: (segment, offset, size) => adapter.read(segment, offset, size),
      removeSegment: (segment) => adapter.removeSegment(segment),
      close: () => adapter.close(),
    };
    return spied;
  };
}

/** Every seq whose record is intact in the durable (flushed) image of a memory disk. */
export function durableSeqs(disk: MemoryDisk): Set<number> {
  const seqs = new Set<number>();
  for (const bytes of disk.durable.values()) {
    let at = 0;
    for (;;) {
      const decoded = decodeRecord(bytes, at);
      if (!decoded.ok) break;
      seqs.add(decoded.header.seq);
      at += decoded.byteSize;
    }
  }
  return seqs;
}

export { memoryAdapter };

/** Every file of the spool, by name, as a SHA-256: to show that a refused open changed nothing. */
export function snapshot(dir: string): Map<string, string> {
  const digest = (name: string) =>
    createHash("sha256")
      .update(readFileSync(path.join(dir, name)))
      .digest("hex");
  return new Map(readdirSync(dir).map((name) => [name, digest(name)]));
}

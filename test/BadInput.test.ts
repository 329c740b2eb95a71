/** Bad input on open: each case is a typed error naming the file or field, never silent loss. */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { openSpool } from "@spool/actors";
import { afterEach, describe, expect, it } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));
const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function spoolDir(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "spool-bad-"));
  made.push(dir);
  const spool = await openSpool({ dir, segmentByteSize: 1 << 20 });
  await spool.writer().append("hello");
  await spool.close();
  return dir;
}

describe("bad input on open", () => {
  it("a manifest of a newer format version is SpoolCorrupt naming spool.json", async () => {
    const dir = await spoolDir();
    const file = path.join(dir, "spool.json");
    const manifest = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify({ ...manifest, version: 99 }));
    await expect(openSpool({ dir })).rejects.toMatchObject({
      _tag: "SpoolCorrupt",
      file: "spool.json",
    });
  });

  it("a garbage manifest is SpoolCorrupt", async () => {
    const dir = await spoolDir();
    writeFileSync(path.join(dir, "spool.json"), "\u0000\u0001garbage");
    await expect(openSpool({ dir })).rejects.toMatchObject({ _tag: "SpoolCorrupt" });
  });

  it("a truncated data segment is StorageFailed naming the file", async () => {
    const dir = await spoolDir();
    truncateSync(path.join(dir, "data-0000000001.seg"), 1000);
    const failure = await openSpool({ dir }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ _tag: "StorageFailed" });
    expect(String((failure as { file: string }).file)).toContain("data-0000000001.seg");
  });

  it("a garbled index file is rebuilt from the records and reported, not an error", async () => {
    const dir = await spoolDir();
    const spool = await openSpool({ dir });
    await spool.ack((await spool.take())!.seq);
    await spool.close();
    writeFileSync(path.join(dir, "index-0000000001.idx"), Buffer.alloc(4 << 20, 0xa5));
    const reopened = await openSpool({ dir });
    expect(reopened.recovery.entriesRebuilt).toBe(1);
    // The message comes back (at-least-once): the index no longer says it was done.
    expect((await reopened.take())?.seq).toBe(1);
    await reopened.close();
  });

  it("a garbled dead-letter store is SpoolCorrupt naming dead-letters.json", async () => {
    const dir = await spoolDir();
    writeFileSync(path.join(dir, "dead-letters.json"), "{not json");
    await expect(openSpool({ dir })).rejects.toMatchObject({
      _tag: "SpoolCorrupt",
      file: "dead-letters.json",
    });
  });

  it("a spool open in another process is SpoolLocked with that process's pid", async () => {
    const dir = await spoolDir();
    const holder = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=spool-source", path.join(here, "crash/holder.ts"), dir],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on("data", (chunk: Buffer) => {
          if (chunk.toString().includes("READY")) resolve();
        });
        holder.on("exit", () => reject(new Error("holder exited")));
      });
      await expect(openSpool({ dir })).rejects.toMatchObject({
        _tag: "SpoolLocked",
        pid: holder.pid,
      });
    } finally {
      holder.kill("SIGKILL");
    }
    // Once that process is gone, its lock is taken over.
    if (holder.exitCode === null && holder.signalCode === null) {
      await new Promise((resolve) => holder.once("exit", resolve));
    }
    const spool = await openSpool({ dir });
    await spool.close();
  });
});

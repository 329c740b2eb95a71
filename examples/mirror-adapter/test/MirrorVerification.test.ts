import {
  closeSync,
  cpSync,
  mkdtempSync,
  openSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openSpool } from "@spool/actors";
import { StorageFailed, segmentFileName, segmentNumber } from "@spool/core";
import { afterEach, describe, expect, it } from "vitest";
import { verifyMirror } from "../src/index.js";

const SPOOL_OPTIONS = { segmentByteSize: 64 * 1024, pageByteSize: 4096, indexSegmentEntries: 64 };
const FIRST_SEGMENT = segmentFileName(segmentNumber(1));

const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A closed spool with a few records, and an exact copy of it. */
async function spoolAndCopy(): Promise<{ dir: string; mirrorDir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), "spool-verify-primary-"));
  const mirrorDir = mkdtempSync(path.join(tmpdir(), "spool-verify-mirror-"));
  made.push(dir, mirrorDir);
  const spool = await openSpool({ dir, ...SPOOL_OPTIONS });
  const writer = spool.writer();
  await Promise.all(Array.from({ length: 40 }, (_, n) => writer.append(`record ${n}`)));
  await spool.close();
  cpSync(dir, mirrorDir, { recursive: true });
  return { dir, mirrorDir };
}

function overwriteByte(file: string, offset: number, value: number): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, Uint8Array.of(value), 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

describe("verifyMirror", () => {
  it("finds nothing in an exact copy", async () => {
    const { dir, mirrorDir } = await spoolAndCopy();
    expect(await verifyMirror(dir, mirrorDir)).toEqual([]);
  });

  it("names the file and the first byte at which the mirror differs", async () => {
    const { dir, mirrorDir } = await spoolAndCopy();
    overwriteByte(path.join(mirrorDir, FIRST_SEGMENT), 100, 0xff);
    overwriteByte(path.join(mirrorDir, FIRST_SEGMENT), 5000, 0xff);
    expect(await verifyMirror(dir, mirrorDir)).toEqual([
      { file: FIRST_SEGMENT, offset: 100, problem: "differs from this byte on" },
    ]);
  });

  it("names a file missing on either side", async () => {
    const { dir, mirrorDir } = await spoolAndCopy();
    rmSync(path.join(mirrorDir, FIRST_SEGMENT));
    rmSync(path.join(dir, "spool.json"));
    expect(await verifyMirror(dir, mirrorDir)).toEqual([
      { file: FIRST_SEGMENT, offset: 0, problem: "only in the primary" },
      { file: "spool.json", offset: 0, problem: "only in the mirror" },
    ]);
  });

  it("names a file whose sizes differ", async () => {
    const { dir, mirrorDir } = await spoolAndCopy();
    truncateSync(path.join(mirrorDir, FIRST_SEGMENT), 4096);
    const [finding] = await verifyMirror(dir, mirrorDir);
    expect(finding).toMatchObject({ file: FIRST_SEGMENT, offset: 0 });
    expect(finding?.problem).toMatch(/^sizes differ/);
  });

  it("ignores files that are not the spool's: the lock, temporaries", async () => {
    const { dir, mirrorDir } = await spoolAndCopy();
    writeFileSync(path.join(dir, "LOCK"), "12345\n");
    writeFileSync(path.join(mirrorDir, `${FIRST_SEGMENT}.tmp`), "half a segment");
    expect(await verifyMirror(dir, mirrorDir)).toEqual([]);
  });

  it("fails with StorageFailed when a directory cannot be listed", async () => {
    const { dir } = await spoolAndCopy();
    const missing = path.join(dir, "no-such-mirror");
    await expect(verifyMirror(dir, missing)).rejects.toBeInstanceOf(StorageFailed);
  });
});

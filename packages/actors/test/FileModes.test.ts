import { readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { mmapAdapter } from "@spool/adapters";
import { type AdapterFactory, ConfigInvalid } from "@spool/core";
import { afterEach, describe, expect, it } from "vitest";
import { openSpool } from "../src/index.js";
import { temporaryDirectory } from "./helpers.js";

// The usual umask: under it the old code made 0644 files and 0755 directories.
const USUAL_UMASK = 0o022;
// The strictest common umask: a widened mode must not be narrowed by it.
const STRICT_UMASK = 0o077;
const SMALL = { segmentByteSize: 8192, indexSegmentEntries: 64, maxAttempts: 1 };

let umaskBefore: number | undefined;
function useUmask(mask: number): void {
  umaskBefore ??= process.umask();
  process.umask(mask);
}
afterEach(() => {
  if (umaskBefore !== undefined) process.umask(umaskBefore);
  umaskBefore = undefined;
});

const modeOf = (file: string) => statSync(file).mode & 0o777;

/**
 * A spool in a directory it creates (`<temp>/a/spool`), with segments crossed, an index, the
 * manifest, a dead letter, and open (so its lock file exists): every kind of file it makes.
 */
async function everyKindOfFile(
  options: { fileMode?: number; directoryMode?: number; adapter?: AdapterFactory } = {},
) {
  const dir = path.join(temporaryDirectory(), "a", "spool");
  const spool = await openSpool({ dir, ...SMALL, ...options });
  const writer = spool.writer();
  await Promise.all(Array.from({ length: 20 }, (_, n) => writer.append(`m${n}`.padEnd(900))));
  // A dead letter in a segment that is then reclaimed: its record moves to dead-letters.json.
  for (let lease = await spool.take(); lease; lease = await spool.take()) {
    if (lease.seq === 1) await spool.nack(lease.seq);
    else await spool.ack(lease.seq);
  }
  const names = readdirSync(dir);
  const files = names.map((name) => path.join(dir, name));
  return { dir, names, files, close: () => spool.close() };
}

describe("file modes", () => {
  it("makes every file 0600 and every directory it creates 0700 by default, whatever the umask", async () => {
    useUmask(USUAL_UMASK);
    const { dir, names, files, close } = await everyKindOfFile();
    try {
      expect(names).toEqual(
        expect.arrayContaining([
          "LOCK",
          "spool.json",
          "dead-letters.json",
          expect.stringMatching(/^data-\d+\.seg$/),
          expect.stringMatching(/^index-\d+\.idx$/),
        ]),
      );
      for (const file of files) expect([file, modeOf(file)]).toEqual([file, 0o600]);
      expect(modeOf(dir)).toBe(0o700);
      expect(modeOf(path.dirname(dir))).toBe(0o700);
    } finally {
      await close();
    }
  });

  it("makes the same modes through the mmap adapter", async () => {
    useUmask(USUAL_UMASK);
    const { dir, files, close } = await everyKindOfFile({ adapter: mmapAdapter() });
    try {
      for (const file of files) expect([file, modeOf(file)]).toEqual([file, 0o600]);
      expect(modeOf(dir)).toBe(0o700);
    } finally {
      await close();
    }
  });

  it("widens files and directories to fileMode and directoryMode, even under a strict umask", async () => {
    useUmask(STRICT_UMASK);
    const widened = { fileMode: 0o640, directoryMode: 0o750 };
    const { dir, files, close } = await everyKindOfFile(widened);
    try {
      for (const file of files) expect([file, modeOf(file)]).toEqual([file, 0o640]);
      expect(modeOf(dir)).toBe(0o750);
    } finally {
      await close();
    }
  });

  it("leaves the mode of a directory that already existed alone", async () => {
    const dir = temporaryDirectory();
    const { chmodSync } = await import("node:fs");
    chmodSync(dir, 0o755);
    const spool = await openSpool({ dir });
    await spool.writer().append("one");
    await spool.close();
    expect(modeOf(dir)).toBe(0o755);
    expect(modeOf(path.join(dir, "spool.json"))).toBe(0o600);
  });

  it.each([
    ["fileMode", 0o400],
    ["fileMode", 0o4600],
    ["fileMode", 1.5],
    ["directoryMode", 0o600],
    ["directoryMode", -1],
  ])("refuses %s %s with ConfigInvalid naming it", async (field, value) => {
    const dir = temporaryDirectory();
    const opened = openSpool({ dir, [field]: value });
    await expect(opened).rejects.toBeInstanceOf(ConfigInvalid);
    await expect(opened).rejects.toMatchObject({ field });
  });
});

import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ConfigInvalid } from "@spool/core";
import { describe, expect, it } from "vitest";
import { FILE_SHAPING_OPTIONS, inspectSpool, openSpool, verifySpool } from "../src/index.js";
import { temporaryDirectory } from "./helpers.js";

// 128 entries = 8 KiB index segments, where the default is 65536 entries (4 MiB).
const shaped = { segmentByteSize: 65536, indexSegmentEntries: 128 };

/** A spool with index entries on disk (a message taken and acked), made with `options`. */
async function spoolMadeWith(options: object): Promise<string> {
  const dir = temporaryDirectory();
  const spool = await openSpool({ dir, ...options });
  const writer = spool.writer();
  for (let i = 0; i < 5; i++) await writer.append(`message ${i}`);
  await spool.ack((await spool.take())!.seq);
  await spool.close();
  return dir;
}

describe("spool.json", () => {
  it("records every option that shapes the files", async () => {
    const dir = await spoolMadeWith(shaped);
    const manifest = JSON.parse(readFileSync(path.join(dir, "spool.json"), "utf8"));
    expect(FILE_SHAPING_OPTIONS).toContain("indexSegmentEntries");
    expect(manifest).toMatchObject({ ...shaped, pageByteSize: 4096 });
  });

  it("a spool made with a non-default indexSegmentEntries reopens without the option", async () => {
    const dir = await spoolMadeWith(shaped);
    const spool = await openSpool({ dir });
    expect(spool.config.indexSegmentEntries).toBe(128);
    expect(spool.recovery.messages.queued).toBe(4);
    await spool.close();
  });

  it("inspect and verify read a non-default indexSegmentEntries from spool.json", async () => {
    const dir = await spoolMadeWith(shaped);
    expect(await verifySpool(dir)).toEqual([]);
    expect((await inspectSpool(dir)).byState).toMatchObject({ done: 1, queued: 4 });
  });

  it("an explicit indexSegmentEntries that disagrees with spool.json is ConfigInvalid", async () => {
    const dir = await spoolMadeWith(shaped);
    const error = await openSpool({ dir, indexSegmentEntries: 64 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigInvalid);
    expect(error).toMatchObject({ field: "indexSegmentEntries" });
  });

  it("a spool.json of the previous version (no indexSegmentEntries) opens with the default", async () => {
    const dir = await spoolMadeWith({ segmentByteSize: 65536 });
    withoutIndexSegmentEntries(dir);
    const spool = await openSpool({ dir });
    expect(spool.config.indexSegmentEntries).toBe(65536);
    expect(spool.recovery.messages.queued).toBe(4);
    await spool.close();
  });

  it("a spool.json of the previous version opens with the option it was made with", async () => {
    const dir = await spoolMadeWith(shaped);
    withoutIndexSegmentEntries(dir);
    const spool = await openSpool({ dir, indexSegmentEntries: 128 });
    expect(spool.recovery.messages.queued).toBe(4);
    await spool.close();
  });
});

describe("spool.json's bound on unflushed bytes", () => {
  const small = { segmentByteSize: 65536, batchByteSizeMax: 4096, recordPayloadByteSizeMax: 1000 };
  const recorded = (dir: string): unknown =>
    JSON.parse(readFileSync(path.join(dir, "spool.json"), "utf8")).unflushedByteSizeMax;
  const reopen = async (dir: string, options: object) =>
    (await openSpool({ dir, ...options })).close();

  it("is three batches' bound of the options the spool was made with", async () => {
    const dir = await spoolMadeWith(small);
    expect(recorded(dir)).toBe(3 * 4096);
  });

  it("rises with an open under larger batches and never falls", async () => {
    const dir = await spoolMadeWith(small);
    await reopen(dir, { ...small, batchByteSizeMax: 8192 });
    expect(recorded(dir)).toBe(3 * 8192);
    await reopen(dir, { ...small, batchByteSizeMax: 2048 });
    expect(recorded(dir)).toBe(3 * 8192);
  });

  it("is recorded at the first open of a spool.json without it, as the default batching's", async () => {
    const dir = await spoolMadeWith(small);
    const file = path.join(dir, "spool.json");
    const { unflushedByteSizeMax: _, ...previous } = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify(previous));
    await reopen(dir, small);
    // The default batching on 64 KiB segments: a batch is at most a segment.
    expect(recorded(dir)).toBe(3 * 65536);
  });
});

function withoutIndexSegmentEntries(dir: string): void {
  const file = path.join(dir, "spool.json");
  const { indexSegmentEntries: _, ...previous } = JSON.parse(readFileSync(file, "utf8"));
  writeFileSync(file, JSON.stringify(previous));
}

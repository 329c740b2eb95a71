import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openSpool } from "@spool/actors";
import { afterEach, describe, expect, it } from "vitest";
import { run } from "../src/Cli.js";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function spoolWith(messages: number): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "spool-cli-"));
  made.push(dir);
  const spool = await openSpool({ dir, segmentByteSize: 1 << 20 });
  const writer = spool.writer();
  for (let i = 0; i < messages; i++) await writer.append(`message ${i}`);
  await spool.ack((await spool.take())!.seq);
  await spool.close();
  return dir;
}

describe("spool CLI", () => {
  it("inspects a spool: segments, records, messages by state", async () => {
    const dir = await spoolWith(5);
    const { exitCode, output } = await run(["inspect", dir, "--json"]);
    expect(exitCode).toBe(0);
    const report = JSON.parse(output);
    expect(report).toMatchObject({ records: 5, firstSeq: 1, lastSeq: 5 });
    expect(report.byState).toMatchObject({ done: 1, queued: 4 });
    expect(report.dataSegments).toEqual(["data-0000000001.seg"]);
  });

  it("verifies an intact spool, then names the file and offset of a flipped byte", async () => {
    const dir = await spoolWith(5);
    expect(await run(["verify", dir])).toMatchObject({ exitCode: 0 });
    // Flip a byte inside the third record's payload.
    const file = openSync(path.join(dir, "data-0000000001.seg"), "r+");
    writeSync(file, Buffer.from([0xff]), 0, 1, 2 * 56 + 45);
    closeSync(file);
    const { exitCode, output } = await run(["verify", dir]);
    expect(exitCode).toBe(1);
    expect(output).toContain("data-0000000001.seg at byte 112");
    expect(output).toContain("checksum");
  });

  it("recovers a spool and reports what it did; usage errors exit 2", async () => {
    const dir = await spoolWith(3);
    const { exitCode, output } = await run(["recover", dir]);
    expect(exitCode).toBe(0);
    expect(output).toContain("records scanned 3");
    expect((await run([])).exitCode).toBe(2);
    expect((await run(["explode", dir])).exitCode).toBe(2);
  });

  it("refuses a missing directory or one that is not a spool with typed errors, creating nothing", async () => {
    const parent = mkdtempSync(path.join(tmpdir(), "spool-cli-"));
    made.push(parent);
    const missing = path.join(parent, "missing");
    await expect(run(["verify", missing])).rejects.toMatchObject({ _tag: "StorageFailed" });
    expect(existsSync(missing)).toBe(false);
    await expect(run(["inspect", parent])).rejects.toMatchObject({ _tag: "SpoolCorrupt" });
    expect(readdirSync(parent)).toEqual([]);
  });

  it("verifies, inspects and recovers a spool made with a non-default indexSegmentEntries", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "spool-cli-"));
    made.push(dir);
    const spool = await openSpool({ dir, segmentByteSize: 65536, indexSegmentEntries: 128 });
    for (let i = 0; i < 4; i++) await spool.writer().append(`message ${i}`);
    await spool.ack((await spool.take())!.seq);
    await spool.close();
    expect(await run(["verify", dir])).toMatchObject({ exitCode: 0 });
    const inspected = JSON.parse((await run(["inspect", dir, "--json"])).output);
    expect(inspected.byState).toMatchObject({ done: 1, queued: 3 });
    const recovered = await run(["recover", dir]);
    expect(recovered.exitCode).toBe(0);
    expect(recovered.output).toContain("records scanned 4");
  });

  it("recover refuses a damaged record with valid records after it; --salvage keeps them and names the lost seq", async () => {
    const dir = await spoolWith(5);
    // Flip a byte inside the third record's payload (records of 56 bytes from offset 0).
    const file = openSync(path.join(dir, "data-0000000001.seg"), "r+");
    writeSync(file, Buffer.from([0xff]), 0, 1, 2 * 56 + 45);
    closeSync(file);
    await expect(run(["recover", dir])).rejects.toMatchObject({
      _tag: "SpoolCorrupt",
      file: "data-0000000001.seg",
      offset: 112,
      seqFrom: 3,
      seqTo: 3,
      validRecordsAfter: 2,
    });
    const { exitCode, output } = await run(["recover", dir, "--salvage"]);
    expect(exitCode).toBe(0);
    expect(output).toContain("seqs lost 1 (3)");
    expect(output).toContain("damaged/data-0000000001.seg@112.bin");
    expect(existsSync(path.join(dir, "damaged", "data-0000000001.seg@112.bin"))).toBe(true);
    expect(await run(["verify", dir])).toMatchObject({ exitCode: 0 });
  });
});

import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { delegatingAdapter, MemoryDisk, memoryAdapter } from "@spool/adapters";
import {
  type FlushMode,
  recordByteSize,
  resolveConfig,
  SpoolCorrupt,
  segmentNumber,
} from "@spool/core";
import { describe, expect, it } from "vitest";
import { openSpool, verifySpool } from "../src/index.js";
import { unflushedByteSizeMax } from "../src/synchronizer/UnflushedBound.js";
import { snapshot, temporaryDirectory } from "./helpers.js";

// Small segments and batches, so the bound on unflushed bytes (3 x 2 KiB) is a few records.
const options = {
  segmentByteSize: 16384,
  batchByteSizeMax: 2048,
  recordPayloadByteSizeMax: 1200,
} as const;
const BOUND = unflushedByteSizeMax(resolveConfig(options));
const SECTOR = 512;
const BIG_PAYLOAD = 1100;
const SMALL_PAYLOAD = 200;
const DAMAGED_SEQ = 5;

/** Record 5 is large (with or without a run of 1 KiB of zeros); the others are small. */
function payloadOf(seq: number, zeros: boolean): Uint8Array {
  if (seq !== DAMAGED_SEQ) return new TextEncoder().encode(`record ${seq} `.padEnd(SMALL_PAYLOAD));
  const bytes = new Uint8Array(BIG_PAYLOAD).fill(0x61);
  if (zeros) bytes.fill(0, 38, 38 + 1024);
  return bytes;
}

/** Where record `seq` lies: all are in segment 1 up to the count that fits. */
function offsetOf(seq: number): number {
  let offset = 0;
  for (let s = 1; s < seq; s++)
    offset += recordByteSize(s === DAMAGED_SEQ ? BIG_PAYLOAD : SMALL_PAYLOAD);
  return offset;
}

/** A spool of `count` acknowledged appends, none taken, with the given batching. */
async function spoolOf(count: number, zeros: boolean, given: object = options): Promise<string> {
  const dir = temporaryDirectory();
  const spool = await openSpool({ dir, ...given });
  const writer = spool.writer();
  await Promise.all(
    Array.from({ length: count }, (_, i) => writer.append(payloadOf(i + 1, zeros))),
  );
  await spool.close();
  return dir;
}

const SEGMENT_1 = path.join("data-0000000001.seg");

function change(dir: string, edit: (bytes: Buffer) => void): void {
  const full = path.join(dir, SEGMENT_1);
  const bytes = readFileSync(full);
  edit(bytes);
  writeFileSync(full, bytes);
}

/** Zeroes the first whole sector inside record `seq` (it must be longer than two sectors' worth). */
function zeroSectorIn(dir: string, seq: number): void {
  change(dir, (bytes) => {
    const sector = Math.ceil((offsetOf(seq) + 1) / SECTOR) * SECTOR;
    bytes.fill(0, sector, sector + SECTOR);
  });
}

/** What verify says opening makes of the damage, and what opening does. */
async function verdicts(dir: string, given: object = options) {
  const findings = await verifySpool(dir);
  const verified = new Set(findings.map((finding) => finding.damage));
  const opened = await openSpool({ dir, ...given }).then(
    async (spool) => {
      const torn = spool.recovery.tornTailTruncated;
      const scanned = spool.recovery.recordsScanned;
      await spool.close();
      return { outcome: torn ? "tornTail" : "intact", scanned, error: undefined };
    },
    (error: unknown) => ({ outcome: "corruption", scanned: 0, error }),
  );
  return { verified: [...verified], ...opened };
}

describe("torn-shaped damage with valid records after it beyond the unflushed bound", () => {
  it("a flipped byte in a record holding 1 KiB of zeros is SpoolCorrupt, and nothing changes", async () => {
    const dir = await spoolOf(200, true);
    // The last byte of the payload, after the zeros: the record fails its checksum.
    change(dir, (bytes) => {
      const at = offsetOf(DAMAGED_SEQ) + 40 + BIG_PAYLOAD - 1;
      bytes[at] = (bytes[at] ?? 0) ^ 0x10;
    });
    const before = snapshot(dir);
    const { verified, outcome, error } = await verdicts(dir);
    expect(error).toBeInstanceOf(SpoolCorrupt);
    expect(error).toMatchObject({
      file: SEGMENT_1,
      offset: offsetOf(DAMAGED_SEQ),
      seqFrom: DAMAGED_SEQ,
      seqTo: DAMAGED_SEQ,
    });
    expect(verified).toEqual([outcome]);
    expect(snapshot(dir)).toEqual(before);
  });

  it("a sector zeroed in a record far before the end, records after it not taken, is SpoolCorrupt", async () => {
    const dir = await spoolOf(200, false);
    zeroSectorIn(dir, DAMAGED_SEQ);
    const before = snapshot(dir);
    const { verified, outcome, error } = await verdicts(dir);
    expect(error).toBeInstanceOf(SpoolCorrupt);
    expect(error).toMatchObject({ file: SEGMENT_1, offset: offsetOf(DAMAGED_SEQ) });
    expect(verified).toEqual([outcome]);
    expect(snapshot(dir)).toEqual(before);
  });

  it("the records after the damage span more than the bound in these tests", () => {
    expect(offsetOf(200) - offsetOf(DAMAGED_SEQ)).toBeGreaterThan(BOUND);
  });
});

describe("a torn tail within the unflushed bound", () => {
  it("opens as a torn tail: cut, every record before it kept, and verify agrees", async () => {
    // Record 5's sector lost, 8 small records (under the bound) written after it.
    const dir = await spoolOf(DAMAGED_SEQ + 8, false);
    expect(offsetOf(DAMAGED_SEQ + 9) - offsetOf(DAMAGED_SEQ)).toBeLessThanOrEqual(BOUND);
    zeroSectorIn(dir, DAMAGED_SEQ);
    const { verified, outcome, scanned, error } = await verdicts(dir);
    expect(error).toBeUndefined();
    expect(outcome).toBe("tornTail");
    expect(scanned).toBe(DAMAGED_SEQ - 1);
    expect(verified).toEqual([outcome]);
  });

  it("still opens as torn after a reopen with smaller batches (spool.json keeps the bound)", async () => {
    const larger = { ...options, batchByteSizeMax: 8192 };
    // 30 small records after record 5: farther than the smaller bound, within the larger one.
    const dir = await spoolOf(DAMAGED_SEQ + 30, false, larger);
    const span = offsetOf(DAMAGED_SEQ + 31) - offsetOf(DAMAGED_SEQ);
    expect(span).toBeGreaterThan(BOUND);
    expect(span).toBeLessThanOrEqual(unflushedByteSizeMax(resolveConfig(larger)));
    zeroSectorIn(dir, DAMAGED_SEQ);
    const { verified, outcome, error } = await verdicts(dir, options);
    expect(error).toBeUndefined();
    expect(outcome).toBe("tornTail");
    expect(verified).toEqual([outcome]);
  });
});

describe("async appends on an adapter that cannot say when an async flush completes", () => {
  it("get a synchronous flush once their unflushed bytes reach one batch's bound", async () => {
    const modes: FlushMode[] = [];
    const disk = new MemoryDisk();
    const inner = memoryAdapter(disk);
    const adapter = async (opened: Parameters<typeof inner>[0]) => {
      const wrapped = await inner(opened);
      return delegatingAdapter(wrapped, {
        flush: (region, mode) => {
          if (opened.fileKind !== "index") modes.push(mode);
          return wrapped.flush(region, mode);
        },
      });
    };
    const spool = await openSpool({ dir: "m", adapter, ...options });
    const writer = spool.writer();
    // One at a time: each append is a batch of its own, 240 bytes, all async.
    for (let i = 1; i <= 40; i++) {
      await writer.append(payloadOf(i, false), { durability: "async" });
    }
    await spool.close();
    const sync = modes.filter((mode) => mode === "sync").length;
    // 40 x 240 bytes reach the 2 KiB bound at least four times.
    expect(sync).toBeGreaterThanOrEqual(4);
  });
});

describe("the damage survey of a large segment", () => {
  it("reads it in chunks of at most 1 MiB and resynchronises past damage across them", async () => {
    const disk = new MemoryDisk();
    const big = { segmentByteSize: 4 * 1024 * 1024 };
    const payload = (seq: number) => `record ${seq} `.padEnd(1000, "abcdefgh");
    const spool = await openSpool({ dir: "m", adapter: memoryAdapter(disk), ...big });
    const writer = spool.writer();
    const count = 2600;
    await Promise.all(Array.from({ length: count }, (_, i) => writer.append(payload(i + 1))));
    await spool.close();
    // A flipped payload byte in record 5 and in the records over the 1 and 2 MiB marks.
    const segment = disk.written.get(segmentNumber(1));
    if (segment === undefined) throw new Error("no segment 1");
    const damaged = [5, 1009, 2017];
    for (const seq of damaged) {
      const at = (seq - 1) * recordByteSize(1000) + 40 + 500;
      segment[at] = (segment[at] ?? 0) ^ 0x10;
    }
    disk.durable.get(segmentNumber(1))?.set(segment);
    let largestRead = 0;
    const inner = memoryAdapter(disk);
    const adapter = async (opened: Parameters<typeof inner>[0]) => {
      const wrapped = await inner(opened);
      return delegatingAdapter(wrapped, {
        read: (where, offset, size) => {
          largestRead = Math.max(largestRead, size);
          return wrapped.read(where, offset, size);
        },
      });
    };
    const error = await openSpool({ dir: "m", adapter, ...big }).catch((caught) => caught);
    expect(error).toBeInstanceOf(SpoolCorrupt);
    expect(error).toMatchObject({
      seqFrom: 5,
      seqTo: 5,
      validRecordsAfter: count - 4 - damaged.length,
    });
    expect(largestRead).toBeLessThanOrEqual(1024 * 1024);
    const findings = await verifySpool("m", { adapter });
    expect(findings.map((finding) => finding.problem)).toEqual(
      damaged.map((seq) => expect.stringContaining(`seqs ${seq}..${seq}`)),
    );
    expect(largestRead).toBeLessThanOrEqual(1024 * 1024);
  });
});

import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { recordByteSize, SpoolCorrupt } from "@spool/core";
import { describe, expect, it } from "vitest";
import { openSpool, salvageSpool, verifySpool } from "../src/index.js";
import { snapshot, temporaryDirectory } from "./helpers.js";

// 64 KiB segments and 200 records of 900-byte payloads: 69 records a segment, three segments.
const SEGMENT_BYTE_SIZE = 65536;
const RECORD_COUNT = 200;
const PAYLOAD_BYTE_SIZE = 900;
const RECORD_SIZE = recordByteSize(PAYLOAD_BYTE_SIZE);
const RECORDS_PER_SEGMENT = Math.floor(SEGMENT_BYTE_SIZE / RECORD_SIZE);
const options = { segmentByteSize: SEGMENT_BYTE_SIZE };

const payloadOf = (seq: number) => `record ${seq} `.padEnd(PAYLOAD_BYTE_SIZE, "abcdefgh");

/** A spool of RECORD_COUNT acknowledged appends in three data segments. */
async function threeSegments(): Promise<string> {
  const dir = temporaryDirectory();
  const spool = await openSpool({ dir, ...options });
  const writer = spool.writer();
  for (let i = 1; i <= RECORD_COUNT; i++) await writer.append(payloadOf(i));
  await spool.close();
  return dir;
}

/** Where record `seq` lies: its segment file and offset. */
function placeOf(seq: number): { file: string; offset: number } {
  const ordinal = seq - 1;
  const segment = Math.floor(ordinal / RECORDS_PER_SEGMENT) + 1;
  return {
    file: `data-${String(segment).padStart(10, "0")}.seg`,
    offset: (ordinal % RECORDS_PER_SEGMENT) * RECORD_SIZE,
  };
}

/** Byte offsets inside a record, one for each of its parts. */
const PARTS = {
  magic: 1,
  "payload length": 9,
  seq: 16,
  checksum: 33,
  payload: 40 + 300,
  padding: 40 + PAYLOAD_BYTE_SIZE + 1,
} as const;

function flip(dir: string, file: string, offset: number): void {
  const full = path.join(dir, file);
  const bytes = readFileSync(full);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0x10;
  writeFileSync(full, bytes);
}

// A record early in the first segment, one in the middle of the second, one in the third.
const DAMAGED_SEQS = {
  first: 5,
  middle: RECORDS_PER_SEGMENT + 34,
  last: 2 * RECORDS_PER_SEGMENT + 30,
};

describe("damage that is not a torn tail", () => {
  for (const [segmentName, seq] of Object.entries(DAMAGED_SEQS)) {
    for (const [part, at] of Object.entries(PARTS)) {
      it(`a flipped ${part} byte of record ${seq} (${segmentName} segment) is SpoolCorrupt naming it, and nothing changes`, async () => {
        const dir = await threeSegments();
        const { file, offset } = placeOf(seq);
        flip(dir, file, offset + at);
        const before = snapshot(dir);
        const error = await openSpool({ dir, ...options }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(SpoolCorrupt);
        expect(error).toMatchObject({
          file,
          offset,
          seqFrom: seq,
          seqTo: seq,
          validRecordsAfter: RECORD_COUNT - seq,
        });
        expect(snapshot(dir)).toEqual(before);
      });
    }
  }

  it("three data segments hold the test's records", async () => {
    const dir = await threeSegments();
    expect(placeOf(RECORD_COUNT).file).toBe("data-0000000003.seg");
    const last = readFileSync(path.join(dir, placeOf(RECORD_COUNT).file));
    expect(last.readUInt32LE(placeOf(RECORD_COUNT).offset)).toBe(0x4c4f5053);
  });
});

describe("a zeroed sector", () => {
  // A whole zero sector is what a power cut leaves; among records that were taken (their index
  // entries written, which only ever happens once a record is durable) it cannot be one.
  it("before records whose index entries prove them durable is SpoolCorrupt", async () => {
    const dir = await threeSegments();
    const spool = await openSpool({ dir, ...options });
    expect(await spool.takeMany(RECORD_COUNT)).toHaveLength(RECORD_COUNT);
    await spool.close();
    const { file, offset } = placeOf(DAMAGED_SEQS.middle);
    const full = path.join(dir, file);
    const bytes = readFileSync(full);
    const sector = Math.ceil((offset + 1) / 512) * 512;
    bytes.fill(0, sector, sector + 512);
    writeFileSync(full, bytes);
    const before = snapshot(dir);
    const error = await openSpool({ dir, ...options }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SpoolCorrupt);
    expect(error).toMatchObject({ file, offset, seqFrom: DAMAGED_SEQS.middle });
    expect(snapshot(dir)).toEqual(before);
  });

  it("before records whose index entries prove them durable is corruption to verify too", async () => {
    const dir = await threeSegments();
    const spool = await openSpool({ dir, ...options });
    expect(await spool.takeMany(RECORD_COUNT)).toHaveLength(RECORD_COUNT);
    await spool.close();
    const { file, offset } = placeOf(DAMAGED_SEQS.middle);
    const full = path.join(dir, file);
    const bytes = readFileSync(full);
    const sector = Math.ceil((offset + 1) / 512) * 512;
    bytes.fill(0, sector, sector + 512);
    writeFileSync(full, bytes);
    const findings = await verifySpool(dir);
    expect(findings).toEqual([
      {
        file,
        offset,
        problem: expect.stringContaining("index entry names it"),
        damage: "corruption",
      },
    ]);
  });
});

describe("damage in the last record of the log", () => {
  // The last record has no valid record after it: it is a torn tail, the one case the bytes
  // cannot tell from damage, and only ever the last batch (unconfirmed if it was torn).
  for (const [part, at] of Object.entries(PARTS)) {
    if (part === "padding") continue;
    it(`a flipped ${part} byte of the last record is a torn tail: cut, the rest kept`, async () => {
      const dir = await threeSegments();
      const { file, offset } = placeOf(RECORD_COUNT);
      flip(dir, file, offset + at);
      const spool = await openSpool({ dir, ...options });
      expect(spool.recovery).toMatchObject({ tornTailTruncated: true, recordsScanned: 199 });
      let count = 0;
      for await (const record of spool.records()) {
        expect(new TextDecoder().decode(record.payload)).toBe(payloadOf(record.seq));
        count += 1;
      }
      expect(count).toBe(RECORD_COUNT - 1);
      await spool.close();
    });
  }

  it("non-zero padding in the last record is SpoolCorrupt: a torn write never leaves it", async () => {
    const dir = await threeSegments();
    const { file, offset } = placeOf(RECORD_COUNT);
    flip(dir, file, offset + PARTS.padding);
    const before = snapshot(dir);
    const error = await openSpool({ dir, ...options }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      _tag: "SpoolCorrupt",
      file,
      offset,
      seqFrom: RECORD_COUNT,
      seqTo: RECORD_COUNT,
      validRecordsAfter: 0,
    });
    expect(snapshot(dir)).toEqual(before);
  });
});

/** Every record the spool reads back, by seq, after checking its payload. */
async function readBack(dir: string): Promise<number[]> {
  const spool = await openSpool({ dir });
  const seqs: number[] = [];
  for await (const record of spool.records()) {
    expect(new TextDecoder().decode(record.payload)).toBe(payloadOf(record.seq));
    seqs.push(record.seq);
  }
  const taken: number[] = [];
  for (let lease = await spool.take(); lease; lease = await spool.take()) taken.push(lease.seq);
  expect(taken).toEqual(seqs);
  await spool.close();
  return seqs;
}

const allBut = (lost: number[]) =>
  Array.from({ length: RECORD_COUNT }, (_, i) => i + 1).filter((s) => !lost.includes(s));

describe("salvage", () => {
  const cases = [
    ...(Object.keys(PARTS) as (keyof typeof PARTS)[]).map((part) => ["middle", part] as const),
    ["first", "payload"] as const,
    ["last", "checksum"] as const,
  ];
  for (const [segmentName, part] of cases) {
    const seq = DAMAGED_SEQS[segmentName];
    it(`after a flipped ${part} byte of record ${seq} (${segmentName} segment), keeps every other record and reports the loss`, async () => {
      const dir = await threeSegments();
      const { file, offset } = placeOf(seq);
      flip(dir, file, offset + PARTS[part]);
      const damaged = readFileSync(path.join(dir, file)).subarray(offset, offset + RECORD_SIZE);
      const report = await salvageSpool(dir);
      const kept = part === "padding";
      expect(report).toMatchObject({
        lostSeqs: kept ? [] : [{ from: seq, to: seq }],
        lostSeqCount: kept ? 0 : 1,
        repairedSeqs: kept ? [seq] : [],
        recordsKeptAfterDamage: RECORD_COUNT - seq + (kept ? 1 : 0),
        damagedCopies: [`damaged/${file}@${offset}.bin`],
      });
      // The damaged bytes were copied aside as they were.
      const copy = readFileSync(path.join(dir, "damaged", `${file}@${offset}.bin`));
      expect(Buffer.compare(copy, damaged.subarray(0, copy.byteLength))).toBe(0);
      expect(await readBack(dir)).toEqual(kept ? allBut([]) : allBut([seq]));
      expect(await verifySpool(dir)).toEqual([]);
    });
  }

  it("names the right seq when the damaged record is the first left after reclaimed segments", async () => {
    const dir = await threeSegments();
    const spool = await openSpool({ dir, ...options });
    for (const lease of await spool.takeMany(RECORDS_PER_SEGMENT)) await spool.ack(lease.seq);
    // Reclaiming runs after the acks that allow it: wait until it is done.
    while (spool.stats().segmentsReclaimed < 1) await new Promise((go) => setImmediate(go));
    await spool.close();
    const seq = RECORDS_PER_SEGMENT + 1;
    const { file, offset } = placeOf(seq);
    flip(dir, file, offset + PARTS.payload);
    const error = await openSpool({ dir, ...options }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ file, offset, seqFrom: seq, seqTo: seq });
    expect(await salvageSpool(dir)).toMatchObject({ lostSeqs: [{ from: seq, to: seq }] });
    expect(await readBack(dir)).toEqual(allBut([]).filter((s) => s > seq));
  });

  it("changes nothing on an intact spool", async () => {
    const dir = await threeSegments();
    const before = snapshot(dir);
    expect(await salvageSpool(dir)).toMatchObject({ lostSeqs: [], damagedCopies: [] });
    expect(snapshot(dir)).toEqual(before);
  });
});

describe("verify", () => {
  it("reports a non-zero padding byte with its file and offset", async () => {
    const dir = await threeSegments();
    const { file, offset } = placeOf(DAMAGED_SEQS.middle);
    flip(dir, file, offset + PARTS.padding);
    const findings = await verifySpool(dir);
    expect(findings).toEqual([
      {
        file,
        offset: offset + PARTS.padding,
        problem: expect.stringContaining("padding"),
        damage: "corruption",
      },
    ]);
  });
});

/** A memory disk after `count` appends of varied sizes, with a fixed clock. */
async function memorySpool(count: number): Promise<MemoryDisk> {
  const disk = new MemoryDisk();
  const adapter = memoryAdapter(disk);
  const spool = await openSpool({ dir: "m", segmentByteSize: 16384, adapter, clock: () => 1 });
  const writer = spool.writer();
  for (let i = 1; i <= count; i++) await writer.append(variedPayload(i));
  await spool.close();
  return disk;
}

const variedPayload = (seq: number) =>
  `record ${seq} `.padEnd(100 + ((seq * 97) % 700), "abcdefgh");

/** The disk as it is with `flushed` records flushed and `written` written after them. */
function inFlight(flushed: MemoryDisk, written: MemoryDisk): MemoryDisk {
  const disk = new MemoryDisk();
  disk.manifest = flushed.manifest;
  for (const [segment, bytes] of written.durable) {
    disk.written.set(segment, bytes.slice());
    disk.durable.set(segment, flushed.durable.get(segment)?.slice() ?? new Uint8Array(16384));
  }
  for (const [segment, bytes] of flushed.index().durable) {
    disk.index().written.set(segment, bytes.slice());
    disk.index().durable.set(segment, bytes.slice());
  }
  return disk;
}

describe("power cuts in the middle of a multi-page write", () => {
  // 16 KiB segments, records of 140-840 bytes: the unflushed writes span pages and segments,
  // and each page reaches the disk whole, not at all, or sector by sector.
  it("are torn tails, never SpoolCorrupt, and keep every flushed record", async () => {
    let validAfterDamage = 0;
    for (const [flushedCount, writtenCount] of [
      [1, 4],
      [20, 45],
      [50, 110],
    ] as const) {
      const flushed = await memorySpool(flushedCount);
      const written = await memorySpool(writtenCount);
      for (let seed = 1; seed <= 100; seed++) {
        const adapter = memoryAdapter(inFlight(flushed, written).powerCut(seed));
        const spool = await openSpool({ dir: "m", adapter });
        let next = 1;
        for await (const record of spool.records()) {
          expect(record.seq).toBe(next);
          expect(new TextDecoder().decode(record.payload)).toBe(variedPayload(record.seq));
          next += 1;
        }
        expect(next).toBeGreaterThan(flushedCount);
        if (spool.recovery.tornTailTruncated && next <= writtenCount) validAfterDamage += 1;
        await spool.close();
      }
    }
    // Most seeds cut the unflushed writes short (the rest kept them whole).
    expect(validAfterDamage).toBeGreaterThan(100);
  });
});

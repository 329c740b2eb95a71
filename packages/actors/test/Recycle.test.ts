import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { delegatingAdapter, MemoryDisk, memoryAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  decodeRecord,
  type FlushAdapter,
  recordByteSize,
  type SegmentNumber,
  sealChecksums,
} from "@spool/core";
import { describe, expect, it } from "vitest";
import { openSpool, type Spool } from "../src/index.js";
import { snapshot, temporaryDirectory } from "./helpers.js";

// 64 KiB segments of 69 records of 900-byte payloads (940 bytes each): every life of a segment
// puts its records at the same offsets, so a stale record starts exactly where the live end is.
const SEGMENT_BYTE_SIZE = 65536;
const PAYLOAD_BYTE_SIZE = 900;
const RECORD_SIZE = recordByteSize(PAYLOAD_BYTE_SIZE);
const RECORDS_PER_SEGMENT = Math.floor(SEGMENT_BYTE_SIZE / RECORD_SIZE);
const options = { segmentByteSize: SEGMENT_BYTE_SIZE };
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const payloadOf = (seq: number) => `record ${seq} `.padEnd(PAYLOAD_BYTE_SIZE, "abcdefgh");
const fileOf = (segment: number) => `data-${String(segment).padStart(10, "0")}.seg`;

/** Where record `seq` lies: its segment and offset (every record is RECORD_SIZE bytes). */
function placeOf(seq: number): { segment: number; file: string; offset: number } {
  const segment = Math.floor((seq - 1) / RECORDS_PER_SEGMENT) + 1;
  return {
    segment,
    file: fileOf(segment),
    offset: ((seq - 1) % RECORDS_PER_SEGMENT) * RECORD_SIZE,
  };
}

async function drain(spool: Spool): Promise<number[]> {
  const taken: number[] = [];
  for (let lease = await spool.take(); lease; lease = await spool.take()) {
    expect(text(lease.payload)).toBe(payloadOf(lease.seq));
    taken.push(lease.seq);
    await spool.ack(lease.seq);
  }
  return taken;
}

/**
 * A spool whose first 150 messages were consumed (segments 1 and 2 reclaimed, kept to be
 * recycled) and whose next `liveCount` appends are waiting, the later ones in segments made
 * from the reclaimed ones: segment 5 is segment 1's file, its stale records after the live end.
 */
async function recycledSpool(liveCount = 150): Promise<{ dir: string; recycled: number }> {
  const dir = temporaryDirectory();
  const spool = await openSpool({ dir, ...options });
  const writer = spool.writer();
  for (let seq = 1; seq <= 150; seq++) await writer.append(payloadOf(seq));
  expect(await drain(spool)).toHaveLength(150);
  // Segments 1 and 2 are reclaimed once their acks are durable (segment 3 is the tail).
  while (spool.stats().segmentsReclaimed < 2) await new Promise((go) => setImmediate(go));
  for (let seq = 151; seq <= 150 + liveCount; seq++) await writer.append(payloadOf(seq));
  const recycled = spool.stats().segmentsRecycled;
  await spool.close();
  return { dir, recycled };
}

/** The valid records of a segment file read at every record offset: [offset, seq, stamp]. */
function recordsIn(dir: string, file: string): [number, number, number][] {
  const bytes = readFileSync(path.join(dir, file));
  const found: [number, number, number][] = [];
  for (let offset = 0; offset + RECORD_SIZE <= bytes.byteLength; offset += RECORD_SIZE) {
    const decoded = decodeRecord(bytes, offset);
    if (decoded.ok) found.push([offset, decoded.header.seq, decoded.header.stamp]);
  }
  return found;
}

function flip(dir: string, file: string, offset: number): void {
  const full = path.join(dir, file);
  const bytes = readFileSync(full);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0x10;
  writeFileSync(full, bytes);
}

async function readBack(dir: string): Promise<{ spool: Spool; seqs: number[] }> {
  const spool = await openSpool({ dir, ...options });
  const seqs: number[] = [];
  for await (const record of spool.records()) {
    expect(text(record.payload)).toBe(payloadOf(record.seq));
    seqs.push(record.seq);
  }
  return { spool, seqs };
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, index) => from + index);

describe("recycled segments", () => {
  it("become the next segments instead of zero-filled ones, their stale records left in place", async () => {
    const { dir, recycled } = await recycledSpool();
    expect(recycled).toBeGreaterThanOrEqual(1);
    const files = readdirSync(dir);
    expect(files.filter((name) => name.startsWith("recycled-")).length).toBeLessThanOrEqual(2);
    // Segment 5 is a reclaimed segment's file: after its live records (seqs 277-300, stamp 5)
    // come that segment's own (stamp 1 or 2), checksums valid.
    const last = placeOf(300);
    expect(last.segment).toBe(5);
    const found = recordsIn(dir, last.file);
    const live = found.filter(([, , stamp]) => stamp === 5).map(([, seq]) => seq);
    const stale = found.filter(([, , stamp]) => stamp !== 5);
    expect(live).toEqual(range(277, 300));
    expect(stale.length).toBeGreaterThan(0);
    for (const [offset, seq, stamp] of stale) {
      expect(offset).toBeGreaterThan(last.offset);
      expect(seq).toBeLessThan(151);
      expect([1, 2]).toContain(stamp);
    }
  });

  it("hold stale records that are never delivered again nor counted", async () => {
    const { dir } = await recycledSpool();
    const { spool, seqs } = await readBack(dir);
    // Records 139-150 were consumed but share segment 3 with live ones: read, never taken.
    expect(seqs).toEqual(range(139, 300));
    expect(spool.recovery).toMatchObject({ recordsScanned: 162, tornTailTruncated: false });
    expect(spool.recovery.messages.queued).toBe(150);
    expect(await drain(spool)).toEqual(range(151, 300));
    const { seq } = await spool.writer().append(payloadOf(301));
    expect(seq).toBe(301);
    await spool.close();
    const again = await readBack(dir);
    expect(again.seqs.at(-1)).toBe(301);
    expect(again.seqs).toEqual(range(again.seqs[0]!, 301));
    expect(again.spool.recovery.tornTailTruncated).toBe(false);
    await again.spool.close();
  });

  it("a log that ends where a stale record starts reads to its end, and no further", async () => {
    // Every life puts its records at the same offsets: record 289's place holds a stale one.
    const { dir } = await recycledSpool(138);
    const { spool, seqs } = await readBack(dir);
    expect(seqs).toEqual(range(139, 288));
    expect(spool.recovery.tornTailTruncated).toBe(false);
    await spool.close();
  });
});

describe("damage in a recycled segment", () => {
  const parts = { magic: 1, "payload length": 9, seq: 16, checksum: 33, stamp: 37, payload: 340 };
  for (const [part, at] of Object.entries(parts)) {
    it(`a flipped ${part} byte of an acknowledged record with live records after it is SpoolCorrupt`, async () => {
      const { dir } = await recycledSpool();
      const { file, offset, segment } = placeOf(290);
      expect(segment).toBe(5);
      flip(dir, file, offset + at);
      const before = snapshot(dir);
      const error = await openSpool({ dir, ...options }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ _tag: "SpoolCorrupt", file, offset, seqFrom: 290, seqTo: 290 });
      expect(snapshot(dir)).toEqual(before);
    });
  }

  it("a flipped byte of the last record is a torn tail, as in a zero-filled segment: cut, the rest kept", async () => {
    const { dir } = await recycledSpool();
    const { file, offset } = placeOf(300);
    flip(dir, file, offset + 340);
    const { spool, seqs } = await readBack(dir);
    expect(seqs).toEqual(range(139, 299));
    expect(spool.recovery.tornTailTruncated).toBe(true);
    await spool.close();
  });

  it("a flipped byte of the last record is SpoolCorrupt once it was taken: its index entry proves it durable", async () => {
    const { dir } = await recycledSpool();
    const spool = await openSpool({ dir, ...options });
    const taken: number[] = [];
    for (let lease = await spool.take(); lease; lease = await spool.take()) taken.push(lease.seq);
    expect(taken.at(-1)).toBe(300);
    await spool.close();
    const { file, offset } = placeOf(300);
    flip(dir, file, offset + 340);
    const error = await openSpool({ dir, ...options }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ _tag: "SpoolCorrupt", file, offset, seqFrom: 300 });
  });

  it("a sector lost in a torn write, reading as an earlier life, is a torn tail with valid records after it", async () => {
    const { dir } = await recycledSpool();
    // Record 296's second sector as a lost write leaves it: bytes of another life there (as
    // another segment's file holds them, 100 bytes on: at the same offset the payloads'
    // repeating pattern would make them the same bytes).
    const { file, offset } = placeOf(296);
    const sector = Math.ceil((offset + 41) / 512) * 512;
    const otherLife = readFileSync(path.join(dir, fileOf(4)));
    const bytes = readFileSync(path.join(dir, file));
    bytes.set(otherLife.subarray(sector + 100, sector + 612), sector);
    writeFileSync(path.join(dir, file), bytes);
    const { spool, seqs } = await readBack(dir);
    expect(seqs).toEqual(range(139, 295));
    expect(spool.recovery.tornTailTruncated).toBe(true);
    // What was cut is gone for good: the stale records past it stay stale, nothing else reads.
    await spool.writer().append(payloadOf(296));
    await spool.close();
    const again = await readBack(dir);
    expect(again.seqs).toEqual(range(139, 296));
    await again.spool.close();
  });

  it("the same sector of other bytes in a zero-filled segment is SpoolCorrupt: lost sectors there read as zeros", async () => {
    const { dir } = await recycledSpool();
    // Record 160 lies in segment 3, zero-filled (prepared before any segment was reclaimed).
    const { file, offset, segment } = placeOf(160);
    expect(segment).toBe(3);
    expect(recordsIn(dir, file).every(([, , stamp]) => stamp === 3)).toBe(true);
    const sector = Math.ceil((offset + 41) / 512) * 512;
    const bytes = readFileSync(path.join(dir, file));
    bytes.set(readFileSync(path.join(dir, fileOf(4))).subarray(sector + 100, sector + 612), sector);
    writeFileSync(path.join(dir, file), bytes);
    const error = await openSpool({ dir, ...options }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ _tag: "SpoolCorrupt", file, seqFrom: 160 });
  });
});

describe("a crash in the middle of recycling", () => {
  it("a reclaimed segment renamed but not yet reused, and one made but not yet written, open clean", async () => {
    const { dir } = await recycledSpool();
    const names = readdirSync(dir)
      .filter((name) => name.startsWith("data-"))
      .sort();
    expect(names.at(-1)).toBe(fileOf(5));
    // Segment 6 made from a reclaimed segment's file (renamed, the directory flushed) just
    // before the crash: all of it another life's (here segment 4's records, live there), and
    // a spare renamed just before the crash too.
    copyFileSync(path.join(dir, fileOf(4)), path.join(dir, fileOf(6)));
    copyFileSync(path.join(dir, fileOf(4)), path.join(dir, "recycled-0000000003.seg"));
    const { spool, seqs } = await readBack(dir);
    expect(seqs).toEqual(range(139, 300));
    expect(spool.recovery).toMatchObject({ tornTailTruncated: false, recordsScanned: 162 });
    expect(await drain(spool)).toEqual(range(151, 300));
    // Appends roll into the segment made before the crash and read back across a reopen.
    const writer = spool.writer();
    for (let seq = 301; seq <= 400; seq++) await writer.append(payloadOf(seq));
    await spool.close();
    const again = await readBack(dir);
    expect(again.seqs.filter((seq) => seq > 300)).toEqual(range(301, 400));
    expect(again.seqs).toEqual(range(again.seqs[0]!, 400));
    await again.spool.close();
  });

  it("a power cut at each step of recycling loses no acknowledged append or ack", async () => {
    const disk = new MemoryDisk();
    const acknowledged = new Map<number, string>();
    const acked = new Set<number>();
    const cuts: { step: string; disk: MemoryDisk; appended: Set<number>; acked: Set<number> }[] =
      [];
    const cut = (step: string) =>
      cuts.push({
        step,
        disk: disk.powerCut(cuts.length + 1),
        appended: new Set(acknowledged.keys()),
        acked: new Set(acked),
      });
    const spool = await openSpool({
      dir: "m",
      segmentByteSize: 8192,
      adapter: steppedAdapter(memoryAdapter(disk), cut),
    });
    const writer = spool.writer();
    let seq = 0;
    for (let round = 0; round < 12; round++) {
      const appends = Array.from({ length: 6 }, () =>
        payloadOf(++seq).slice(0, 300 + (seq % 7) * 50),
      );
      const results = await Promise.all(appends.map((payload) => writer.append(payload)));
      for (const [index, result] of results.entries())
        acknowledged.set(result.seq, appends[index]!);
      for (const lease of await spool.takeMany(64)) {
        await spool.ack(lease.seq);
        acked.add(lease.seq);
      }
    }
    await spool.close();
    const steps = new Set(cuts.map((taken) => taken.step));
    expect([...steps].sort()).toEqual([
      "prepared from a spare",
      "recycled",
      "recycling",
      "written into a recycled segment",
    ]);
    for (const taken of cuts) {
      const reopened = await openSpool({ dir: "m", adapter: memoryAdapter(taken.disk) });
      const present = new Map<number, string>();
      for await (const record of reopened.records()) present.set(record.seq, text(record.payload));
      for (const seqAcked of taken.appended) {
        if (taken.acked.has(seqAcked)) continue;
        expect(present.get(seqAcked), `${taken.step}: append ${seqAcked}`).toBe(
          acknowledged.get(seqAcked),
        );
      }
      for (let lease = await reopened.take(); lease; lease = await reopened.take()) {
        expect(taken.acked.has(lease.seq), `${taken.step}: ${lease.seq} acked`).toBe(false);
        // Every append resolved by the end of the run: whatever the cut kept was appended so.
        expect(text(lease.payload), `${taken.step}: ${lease.seq}`).toBe(
          acknowledged.get(lease.seq),
        );
      }
      await reopened.close();
    }
  });
});

/** The memory adapter with a power cut taken at each step of recycling. */
function steppedAdapter(inner: AdapterFactory, cut: (step: string) => void): AdapterFactory {
  return async (adapterOptions) => {
    const adapter = await inner(adapterOptions);
    if (adapterOptions.fileKind === "index") return adapter;
    const recycledSegments = new Set<SegmentNumber>();
    return delegatingAdapter(adapter, {
      recycleSegment: async (segment: SegmentNumber) => {
        cut("recycling");
        await adapter.recycleSegment?.(segment);
        cut("recycled");
      },
      prepareSegment: async (segment: SegmentNumber) => {
        const before = adapter.segmentsPrepared?.().recycled ?? 0;
        await adapter.prepareSegment(segment);
        if ((adapter.segmentsPrepared?.().recycled ?? 0) > before) {
          recycledSegments.add(segment);
          cut("prepared from a spare");
        }
      },
      map: async (segment: SegmentNumber) => {
        const before = adapter.segmentsPrepared?.().recycled ?? 0;
        await adapter.map(segment);
        if ((adapter.segmentsPrepared?.().recycled ?? 0) > before) {
          recycledSegments.add(segment);
          cut("prepared from a spare");
        }
      },
      write: async (region: Parameters<FlushAdapter["write"]>[0]) => {
        await adapter.write(region);
        if (recycledSegments.has(region.segment)) cut("written into a recycled segment");
      },
    });
  };
}

describe("spools written before segment stamps", () => {
  it("read their unstamped records, go on with stamped ones under a version 2 manifest, and never recycle a segment begun unstamped", async () => {
    const dir = temporaryDirectory();
    const spool = await openSpool({ dir, ...options });
    const writer = spool.writer();
    for (let seq = 1; seq <= 100; seq++) await writer.append(payloadOf(seq));
    await spool.close();
    // As a build before stamps wrote them: format 1, bytes 36-40 zero, checksums sealed again.
    for (const name of readdirSync(dir).filter((file) => file.startsWith("data-"))) {
      const bytes = readFileSync(path.join(dir, name));
      const starts = recordsIn(dir, name).map(([offset]) => offset);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (const offset of starts) {
        view.setUint16(offset + 4, 1, true);
        view.setUint32(offset + 32, 0, true);
        view.setUint32(offset + 36, 0, true);
      }
      sealChecksums(bytes, Uint32Array.from(starts), starts.length);
      writeFileSync(path.join(dir, name), bytes);
    }
    const manifestFile = path.join(dir, "spool.json");
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
    writeFileSync(manifestFile, JSON.stringify({ ...manifest, version: 1 }));
    const { spool: old, seqs } = await readBack(dir);
    expect(seqs).toEqual(range(1, 100));
    // Raised before any stamped record is written: a version before stamps refuses it now.
    expect(JSON.parse(readFileSync(manifestFile, "utf8")).version).toBe(2);
    const oldWriter = old.writer();
    for (let seq = 101; seq <= 250; seq++) await oldWriter.append(payloadOf(seq));
    expect(await drain(old)).toEqual(range(1, 250));
    while (old.stats().segmentsReclaimed < 2) await new Promise((go) => setImmediate(go));
    await old.close();
    const again = await readBack(dir);
    expect(again.seqs.at(-1)).toBe(250);
    // Segments 1 and 2 began unstamped: deleted when reclaimed, never recycled.
    const spares = readdirSync(dir).filter((name) => name.startsWith("recycled-"));
    expect(spares.filter((name) => name <= "recycled-0000000002.seg")).toEqual([]);
    const { seq } = await again.spool.writer().append(payloadOf(251));
    expect(seq).toBe(251);
    await again.spool.close();
  });
});

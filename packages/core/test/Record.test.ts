import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeIndexEntry,
  decodeRecord,
  encodeIndexEntry,
  encodeRecord,
  entryForRecord,
  INDEX_ENTRY_BYTE_SIZE,
  isLiveRecord,
  RECORD_HEADER_BYTE_SIZE,
  RecordEncoder,
  recordByteSize,
  sealChecksums,
  segmentStamp,
} from "../src/index.js";
import { byteOffset, segmentNumber, seq, writerId } from "../src/Units.js";

const fields = { seq: seq(42), writerId: writerId(7), appendedAtMs: 1_700_000_000_123, stamp: 9 };

describe("Record", () => {
  it("round-trips header fields and payload", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 1, max: 2 ** 53 - 1 }),
        (payload, s) => {
          const target = new Uint8Array(recordByteSize(payload.byteLength));
          encodeRecord(target, 0, { ...fields, seq: seq(s) }, payload);
          const decoded = decodeRecord(target, 0);
          expect(decoded.ok).toBe(true);
          if (!decoded.ok) return;
          expect(decoded.header.seq).toBe(s);
          expect(decoded.header.writerId).toBe(7);
          expect(decoded.header.appendedAtMs).toBe(fields.appendedAtMs);
          expect(Array.from(decoded.payload)).toEqual(Array.from(payload));
        },
      ),
    );
  });

  it("catches any single flipped bit in header or payload", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), (payload, pick) => {
        const target = new Uint8Array(recordByteSize(payload.byteLength));
        encodeRecord(target, 0, fields, payload);
        const bit = pick % ((RECORD_HEADER_BYTE_SIZE + payload.byteLength) * 8);
        target[bit >> 3]! ^= 1 << (bit & 7);
        expect(decodeRecord(target, 0).ok).toBe(false);
      }),
    );
  });

  it("seals a batch of records at once, each valid only once sealed", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 2000 }), { minLength: 1, maxLength: 70 }),
        (payloads) => {
          const sizes = payloads.map((p) => recordByteSize(p.byteLength));
          const target = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
          const encoder = new RecordEncoder(target, 64, 9);
          const starts: number[] = [];
          let at = 0;
          for (const [i, payload] of payloads.entries()) {
            starts.push(at);
            at += encoder.encode(at, seq(i + 1), writerId(3), fields.appendedAtMs, payload);
          }
          expect(starts.some((start) => decodeRecord(target, start).ok)).toBe(false);
          encoder.seal();
          for (const [i, start] of starts.entries()) {
            const decoded = decodeRecord(target, start);
            expect(decoded.ok && decoded.header.seq).toBe(i + 1);
            expect(decoded.ok && Array.from(decoded.payload)).toEqual(Array.from(payloads[i]!));
          }
        },
      ),
    );
  });

  it("sizes records to a multiple of 8 bytes", () => {
    expect(recordByteSize(0)).toBe(40);
    expect(recordByteSize(1)).toBe(48);
    expect(recordByteSize(1024)).toBe(1064);
  });

  it("reads zeros as the end of the written log", () => {
    const decoded = decodeRecord(new Uint8Array(64), 0);
    expect(decoded).toEqual({ ok: false, defect: "end" });
  });

  it("reports a non-zero padding byte as a padding defect, though the checksum holds", () => {
    const target = new Uint8Array(recordByteSize(5));
    encodeRecord(target, 0, fields, new TextEncoder().encode("hello"));
    expect(decodeRecord(target, 0).ok).toBe(true);
    target[RECORD_HEADER_BYTE_SIZE + 6] = 1;
    expect(decodeRecord(target, 0)).toEqual({ ok: false, defect: "padding" });
  });

  it("asks for the padding's bytes too when the source ends inside it", () => {
    const target = new Uint8Array(recordByteSize(5));
    encodeRecord(target, 0, fields, new TextEncoder().encode("hello"));
    const cut = target.subarray(0, RECORD_HEADER_BYTE_SIZE + 5);
    expect(decodeRecord(cut, 0)).toEqual({ ok: false, defect: "length", needBytes: 48 });
  });

  it("stamps a record with its segment, inside the checksum", () => {
    const target = new Uint8Array(recordByteSize(5));
    const stamp = segmentStamp(segmentNumber(12));
    encodeRecord(target, 0, { ...fields, stamp }, new TextEncoder().encode("hello"));
    const decoded = decodeRecord(target, 0);
    expect(decoded.ok && decoded.header).toMatchObject({ formatVersion: 2, stamp: 12 });
    target[36] = 13;
    expect(decodeRecord(target, 0)).toEqual({ ok: false, defect: "checksum" });
  });

  it("tells a record of the segment's current life from a stale one by its stamp", () => {
    const target = new Uint8Array(recordByteSize(5));
    encodeRecord(target, 0, { ...fields, stamp: 7 }, new TextEncoder().encode("hello"));
    const decoded = decodeRecord(target, 0);
    if (!decoded.ok) throw new Error("the record should decode");
    expect(isLiveRecord(decoded.header, 7, false)).toBe(true);
    // Recycled as segment 9: the record is its earlier life's.
    expect(isLiveRecord(decoded.header, 9, false)).toBe(false);
  });

  it("reads a format 1 record, live only in a segment that begins with one", () => {
    const target = new Uint8Array(recordByteSize(5));
    encodeRecord(target, 0, { ...fields, stamp: 0 }, new TextEncoder().encode("hello"));
    // As a build before stamps wrote it: version 1, bytes 36-40 zero, checksum sealed again.
    new DataView(target.buffer).setUint16(4, 1, true);
    new DataView(target.buffer).setUint32(32, 0, true);
    sealChecksums(target, new Uint32Array([0]), 1);
    const decoded = decodeRecord(target, 0);
    expect(decoded.ok && decoded.header).toMatchObject({ formatVersion: 1, stamp: 0 });
    if (!decoded.ok) return;
    expect(isLiveRecord(decoded.header, 3, true)).toBe(true);
    expect(isLiveRecord(decoded.header, 3, false)).toBe(false);
  });
});

describe("IndexEntry", () => {
  const entry = entryForRecord({
    seq: seq(9),
    segment: segmentNumber(3),
    offset: byteOffset(4096),
    payloadByteSize: 1024,
    appendedAtMs: 1_700_000_000_000,
  });

  it("round-trips the index and entry-info components", () => {
    const page = new Uint8Array(INDEX_ENTRY_BYTE_SIZE * 2);
    encodeIndexEntry(page, INDEX_ENTRY_BYTE_SIZE, entry);
    const decoded = decodeIndexEntry(page, INDEX_ENTRY_BYTE_SIZE);
    expect(decoded).toEqual({ ok: true, entry });
  });

  it("catches any single flipped bit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: INDEX_ENTRY_BYTE_SIZE * 8 - 1 }), (bit) => {
        const page = new Uint8Array(INDEX_ENTRY_BYTE_SIZE);
        encodeIndexEntry(page, 0, entry);
        page[bit >> 3]! ^= 1 << (bit & 7);
        expect(decodeIndexEntry(page, 0).ok).toBe(false);
      }),
    );
  });

  it("reads an all-zero slot as empty", () => {
    expect(decodeIndexEntry(new Uint8Array(64), 0)).toEqual({ ok: false, defect: "empty" });
  });
});

import { seededRandom } from "@spool/adapters";
import { encodeRecord, recordByteSize, seq, writerId } from "@spool/core";
import { describe, expect, it } from "vitest";
import { explainedByOneByte } from "../src/internal/OneByteDamage.js";

const STAMP = 7;

/** A record of `payloadByteSize` seeded bytes, then `room - size` bytes of segment after it. */
function record(random: () => number, payloadByteSize: number): Uint8Array {
  const payload = Uint8Array.from({ length: payloadByteSize }, () => Math.floor(random() * 256));
  const bytes = new Uint8Array(recordByteSize(payloadByteSize) + 4096);
  const fields = {
    seq: seq(42),
    writerId: writerId(3),
    appendedAtMs: 1_700_000_000_000,
    stamp: STAMP,
  };
  encodeRecord(bytes, 0, fields, payload);
  return bytes;
}

const explained = (bytes: Uint8Array) =>
  explainedByOneByte(
    { bytes, room: bytes.byteLength, stamp: STAMP, unstamped: false },
    async (byteSize) => bytes.subarray(0, byteSize),
  );

describe("explainedByOneByte", () => {
  it("explains any one changed byte of a record: header, stamp, length, checksum or payload", async () => {
    const random = seededRandom(1);
    for (let trial = 0; trial < 300; trial++) {
      const size = 1 + Math.floor(random() * 3000);
      const bytes = record(random, size);
      const at = Math.floor(random() * (40 + size));
      const change = 1 + Math.floor(random() * 255);
      bytes[at] = (bytes[at] ?? 0) ^ change;
      expect(await explained(bytes), `byte ${at} of ${40 + size} ^ ${change}`).toBe(true);
    }
  });

  it("does not explain a 512-byte sector of other bytes, as a torn write leaves in a recycled segment", async () => {
    const random = seededRandom(2);
    let explainedTears = 0;
    for (let trial = 0; trial < 300; trial++) {
      const size = 600 + Math.floor(random() * 3000);
      const bytes = record(random, size);
      const sector = 512 * (1 + Math.floor(random() * Math.floor((40 + size - 512) / 512)));
      for (let at = sector; at < sector + 512; at++) bytes[at] = Math.floor(random() * 256);
      if (await explained(bytes)) explainedTears += 1;
    }
    // About n × 255 / 2^32 each by chance: none in 300.
    expect(explainedTears).toBe(0);
  });

  it("does not explain two changed bytes far apart", async () => {
    const random = seededRandom(3);
    for (let trial = 0; trial < 100; trial++) {
      const bytes = record(random, 1024);
      bytes[100] = (bytes[100] ?? 0) ^ (1 + Math.floor(random() * 255));
      bytes[900] = (bytes[900] ?? 0) ^ (1 + Math.floor(random() * 255));
      expect(await explained(bytes)).toBe(false);
    }
  });
});

/**
 * An independent reader of the queue data file for the crash checks: it parses the record
 * format from the README's table with its own code (not Spool's decoder) and its own CRC32C
 * call, so a bug shared by Spool's writer and reader cannot hide a loss.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { crc32c } from "@node-rs/crc32";

const MAGIC = 0x4c4f5053; // "SPOL"
const HEADER = 40;

/** Every intact record of the spool in `dir`, by seq, up to the first gap or damage. */
export function readRecordsIndependently(dir: string): Map<number, string> {
  const records = new Map<number, string>();
  const segments = readdirSync(dir)
    .filter((name) => /^data-\d{10}\.seg$/.test(name))
    .sort();
  let expected: number | undefined;
  for (const name of segments) {
    const bytes = readFileSync(path.join(dir, name));
    let at = 0;
    while (at + HEADER <= bytes.length) {
      if (bytes.readUInt32LE(at) !== MAGIC) break;
      if (bytes.readUInt16LE(at + 4) !== 1 || bytes.readUInt16LE(at + 6) !== HEADER) break;
      const length = bytes.readUInt32LE(at + 8);
      const seq = bytes.readUInt32LE(at + 16) + bytes.readUInt32LE(at + 20) * 2 ** 32;
      if (at + HEADER + length > bytes.length) break;
      const header = Buffer.from(bytes.subarray(at, at + HEADER));
      const stored = header.readUInt32LE(32);
      header.writeUInt32LE(0, 32);
      const payload = bytes.subarray(at + HEADER, at + HEADER + length);
      if (crc32c(payload, crc32c(header)) >>> 0 !== stored) break;
      if (expected !== undefined && seq !== expected) return records;
      records.set(seq, payload.toString("utf8"));
      expected = seq + 1;
      at += Math.ceil((HEADER + length) / 8) * 8;
    }
  }
  return records;
}

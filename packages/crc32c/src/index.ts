/**
 * CRC32C (Castagnoli) in native code: one checksum, or every record of a batch in one call.
 * SSE4.2's crc32 instruction where the CPU has it, a slicing-by-8 table elsewhere.
 */
import { addon } from "./internal/native.js";

/**
 * CRC32C of `bytes`, continuing from `initial` (the CRC32C of the bytes before them) when given.
 *
 * @example
 * crc32c(new TextEncoder().encode("123456789")) // 0xe3069283
 */
export function crc32c(bytes: Uint8Array, initial?: number): number {
  return addon.crc32c(bytes, initial);
}

/**
 * Writes the checksum of each of the first `count` records whose offsets `starts` holds, in one
 * call for the whole batch. The record layout is `@spool/core`'s: the payload's byte size at
 * +8 (u32, little-endian), the checksum field at +32, zero while this runs, a 40-byte header;
 * the checksum covers header and payload. Throws a RangeError, and writes nothing, when a record
 * runs past `target`.
 *
 * @example
 * sealRecords(window, new Uint32Array([0, 1064]), 2)
 */
export function sealRecords(target: Uint8Array, starts: Uint32Array, count: number): void {
  addon.sealRecords(target, starts, count);
}

/** Whether this CPU's crc32 instruction is in use (false: the table). @example crc32cInHardware */
export const crc32cInHardware: boolean = addon.hardware;

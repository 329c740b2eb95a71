/**
 * CRC32C (Castagnoli), the checksum on every record and index entry. Computed by a maintained
 * native package (@node-rs/crc32, SSE4.2 where the CPU has it) rather than a hand-written table.
 */
import { crc32c } from "@node-rs/crc32";

/**
 * CRC32C of `bytes`, continuing from `initial` when given (so a checksum can span two ranges).
 *
 * @example
 * checksum(new TextEncoder().encode("123456789")) // 0xe3069283
 */
export function checksum(bytes: Uint8Array, initial?: number): number {
  return crc32c(bytes, initial) >>> 0;
}

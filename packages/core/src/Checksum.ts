/**
 * CRC32C (Castagnoli), the checksum on every record and index entry. Computed by the workspace's
 * addon `@spool/crc32c` (SSE4.2's crc32 instruction where the CPU has it), which also seals a
 * whole batch of records in one call ({@link RecordEncoder.seal}).
 */
import { crc32c, sealRecords } from "@spool/crc32c";

/**
 * CRC32C of `bytes`, continuing from `initial` when given (so a checksum can span two ranges).
 *
 * @example
 * checksum(new TextEncoder().encode("123456789")) // 0xe3069283
 */
export function checksum(bytes: Uint8Array, initial?: number): number {
  return crc32c(bytes, initial);
}

/**
 * Writes the CRC32C of each of the first `count` records starting at `starts` into its checksum
 * field, in one native call for the batch (see {@link RecordEncoder.seal}).
 *
 * @example
 * sealChecksums(window, new Uint32Array([0]), 1)
 */
export function sealChecksums(target: Uint8Array, starts: Uint32Array, count: number): void {
  sealRecords(target, starts, count);
}

/**
 * How large a case's segment is: large enough for everything the case can append at a generous
 * bound on this disk's rate, so that no case pays for a roll, and no larger, since every
 * segment is zero-filled and flushed before the case starts (2 GiB took 6.3 s here).
 * A case that outruns the bound still finishes: Spool and the bare loop roll to a new segment
 * (the roll's cost then shows in that row).
 */
import { recordByteSize } from "@spool/core";
import { WARM_UP_MS } from "./Measurement.js";

const MIB = 1024 * 1024;

/**
 * What one closed-loop writer can append per second at most: it waits for a flush per
 * append. About four times the fastest one-writer row measured on this disk (4,598 msgs/s,
 * SQLite with a transaction per message, in the 09:34 run of bench/results).
 */
export const APPENDS_PER_WRITER_PER_SECOND_MAX = 20_000;

/**
 * Record bytes per second any case may write at most: twice the fastest 1 KiB rate a case
 * reached (319,000 msgs/s × 1,064 bytes, 324 MiB/s, Spool at 256 writers in the full run that
 * a full segment ended) and above the fastest 64 KiB rate (554 MiB/s, README).
 */
export const RECORD_BYTES_PER_SECOND_MAX = 640 * MIB;

/** Spool's limit: index entries store offsets as 32-bit numbers (below 4 GiB, whole pages). */
const FILE_SEGMENT_BYTE_SIZE_MAX = 4095 * MIB;
/** mmap-io cannot map 2 GiB: its length is a signed 32-bit int. */
const MMAP_SEGMENT_BYTE_SIZE_MAX = 1024 * MIB;
/** Spool's default segment: the least any case gets. */
const SEGMENT_BYTE_SIZE_MIN = 64 * MIB;
/**
 * The smoke run's segments at most: its figures mean nothing, zero-filling costs its minute,
 * and a roll there exercises the roll path.
 */
const QUICK_SEGMENT_BYTE_SIZE_MAX = 256 * MIB;

export interface SegmentSizing {
  readonly system: string;
  /** Concurrent appenders (producers, for the end-to-end cases). */
  readonly writers: number;
  readonly payloadByteSize: number;
  /** The measured seconds; the warm-up is added. */
  readonly seconds: number;
  readonly quick: boolean;
}

/**
 * The segment for a case: its writers' bound rate (capped by the byte-rate bound) times its
 * warm-up and measured time, in whole MiB (rounded up), within the adapter's limits.
 *
 * @example
 * segmentByteSizeFor({ system: "spool-file", writers: 1, payloadByteSize: 1024, seconds: 4, quick: false })
 */
export function segmentByteSizeFor(sizing: SegmentSizing): number {
  const recordBytesPerSecond = Math.min(
    sizing.writers * APPENDS_PER_WRITER_PER_SECOND_MAX * recordByteSize(sizing.payloadByteSize),
    RECORD_BYTES_PER_SECOND_MAX,
  );
  const seconds = WARM_UP_MS / 1000 + sizing.seconds;
  const needed = Math.ceil((recordBytesPerSecond * seconds) / MIB) * MIB;
  const limit = sizing.quick
    ? QUICK_SEGMENT_BYTE_SIZE_MAX
    : sizing.system.includes("mmap")
      ? MMAP_SEGMENT_BYTE_SIZE_MAX
      : FILE_SEGMENT_BYTE_SIZE_MAX;
  return Math.min(limit, Math.max(SEGMENT_BYTE_SIZE_MIN, needed));
}

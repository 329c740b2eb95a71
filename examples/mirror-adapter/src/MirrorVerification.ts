/**
 * A read-only comparison of a spool directory with its mirror, for operators: before standing
 * the mirror in for a lost primary, after rebuilding one side from the other, or now and then
 * as a check that the second disk holds what the first does.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { errorCode, parseSegmentFileName, StorageFailed } from "@spool/core";

/**
 * One difference between the two directories, and where it starts.
 *
 * @example
 * { file: "data-0000000001.seg", offset: 8192, problem: "differs from this byte on" }
 */
export interface MirrorFinding {
  /** The file's name, the same in both directories. */
  readonly file: string;
  readonly offset: number;
  readonly problem: string;
}

// 1 MiB: the unit of comparing a segment, so no buffer grows to a segment's size (64 MiB by
// default); past about 1 MiB per read, sequential bandwidth is flat (as the adapters measured).
const CHUNK_BYTE_SIZE = 1024 * 1024;

/** The spool's own files: data and index segments, and its JSON documents. */
function isSpoolFile(name: string): boolean {
  // Not LOCK (held while open), not `*.tmp` (a document or segment being replaced), not `run/`.
  return (
    parseSegmentFileName(name, "data") !== undefined ||
    parseSegmentFileName(name, "index") !== undefined ||
    name.endsWith(".json")
  );
}

async function spoolFiles(dir: string): Promise<Set<string>> {
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return new Set(entries.filter((e) => e.isFile() && isSpoolFile(e.name)).map((e) => e.name));
  } catch (cause) {
    throw new StorageFailed({ operation: "list", file: dir, code: errorCode(cause), cause });
  }
}

/** The first offset at which two open files of `byteSize` bytes each differ, or undefined. */
async function firstDifference(
  primary: fs.FileHandle,
  mirror: fs.FileHandle,
  byteSize: number,
): Promise<number | undefined> {
  const primaryChunk = Buffer.alloc(CHUNK_BYTE_SIZE);
  const mirrorChunk = Buffer.alloc(CHUNK_BYTE_SIZE);
  for (let at = 0; at < byteSize; at += CHUNK_BYTE_SIZE) {
    const length = Math.min(CHUNK_BYTE_SIZE, byteSize - at);
    await Promise.all([
      primary.read(primaryChunk, 0, length, at),
      mirror.read(mirrorChunk, 0, length, at),
    ]);
    const left = primaryChunk.subarray(0, length);
    const right = mirrorChunk.subarray(0, length);
    // A native memcmp first: equal chunks, nearly all of them, cost no JavaScript loop.
    if (left.equals(right)) continue;
    return at + left.findIndex((value, index) => value !== right[index]);
  }
  return undefined;
}

/** Compares one file present in both directories; a finding, or undefined when identical. */
async function compareFile(
  primaryDir: string,
  mirrorDir: string,
  file: string,
): Promise<MirrorFinding | undefined> {
  const primaryPath = path.join(primaryDir, file);
  const mirrorPath = path.join(mirrorDir, file);
  const primary = await openForReading(primaryPath);
  try {
    const mirror = await openForReading(mirrorPath);
    try {
      const [primaryStat, mirrorStat] = await Promise.all([primary.stat(), mirror.stat()]);
      if (primaryStat.size !== mirrorStat.size) {
        const sizes = `primary ${primaryStat.size} bytes, mirror ${mirrorStat.size}`;
        return { file, offset: 0, problem: `sizes differ (${sizes})` };
      }
      const offset = await firstDifference(primary, mirror, primaryStat.size);
      return offset === undefined
        ? undefined
        : { file, offset, problem: "differs from this byte on" };
    } finally {
      await mirror.close();
    }
  } finally {
    await primary.close();
  }
}

async function openForReading(file: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, "r");
  } catch (cause) {
    throw new StorageFailed({ operation: "open", file, code: errorCode(cause), cause });
  }
}

/**
 * Compares the spool's files (segments and documents) in `primaryDir` and `mirrorDir`, byte by
 * byte, without locking or changing either. An empty list means the mirror is an exact copy.
 * Run it while the spool is closed: an open spool may have a batch written to one side only.
 * After a crash, a finding past the primary's last record is a batch that reached one disk and
 * was never acknowledged; it costs no acknowledged append, but resync before relying on it.
 *
 * @example
 * const findings = await verifyMirror("/mnt/disk1/spool", "/mnt/disk2/spool-mirror");
 * if (findings.length > 0) process.exitCode = 1;
 */
export async function verifyMirror(
  primaryDir: string,
  mirrorDir: string,
): Promise<MirrorFinding[]> {
  const [inPrimary, inMirror] = await Promise.all([spoolFiles(primaryDir), spoolFiles(mirrorDir)]);
  const findings: MirrorFinding[] = [];
  for (const file of [...new Set([...inPrimary, ...inMirror])].sort()) {
    if (!inMirror.has(file)) {
      findings.push({ file, offset: 0, problem: "only in the primary" });
    } else if (!inPrimary.has(file)) {
      findings.push({ file, offset: 0, problem: "only in the mirror" });
    } else {
      const finding = await compareFile(primaryDir, mirrorDir, file);
      if (finding !== undefined) findings.push(finding);
    }
  }
  return findings;
}

/**
 * Error mapping for the adapters' file system calls (a failing call becomes `StorageFailed` or
 * `FlushFailed` naming the file), and the spool directory's creation with its mode.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { errorCode, FlushFailed, StorageFailed } from "@spool/core";

/** Wraps a failing fs call in StorageFailed naming the file. */
export async function storage<T>(
  operation: string,
  file: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    throw new StorageFailed({ operation, file, code: errorCode(cause), cause });
  }
}

/** Wraps a failing write or flush in FlushFailed naming the region. */
export async function flushing<T>(
  file: string,
  offset: number,
  byteSize: number,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    throw new FlushFailed({ file, offset, byteSize, code: errorCode(cause), cause });
  }
}

/**
 * Makes `dir` and any missing parents with `mode`, set again after mkdir so the umask cannot
 * narrow it. A directory that already exists keeps its mode: it is not the spool's to change.
 * The spool's directory is made with it, and (exported for the actors package) the writer
 * socket's.
 *
 * @example
 * await createDirectory("/var/spool/sms/run", 0o700);
 */
export async function createDirectory(dir: string, mode: number): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true, mode });
  if (first === undefined) return;
  const target = path.resolve(dir);
  // mkdir made every directory from `first` down to `dir`.
  for (let made = path.resolve(first); ; ) {
    await fs.chmod(made, mode);
    if (made === target) return;
    made = path.join(made, path.relative(made, target).split(path.sep)[0]!);
  }
}

/**
 * Small files the gateway keeps beside its spools (its identity, the dead letters it reported):
 * replaced whole and durably, so a crash leaves the old contents or the new, never a part.
 */
import { open, rename } from "node:fs/promises";
import * as path from "node:path";

/** Writes `text` to `file` atomically and durably: written, flushed, renamed, directory flushed. */
export async function writeFileDurably(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await open(temporary, "w", 0o600);
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  const directory = await open(path.dirname(file), "r");
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

#!/usr/bin/env node
/** The `spool` bin: runs a command, prints what it says, exits with its code. */
import { run } from "./Cli.js";

try {
  const { exitCode, output } = await run(process.argv.slice(2));
  // Clear the progress line a long scan left on the terminal.
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  process.stdout.write(`${output}\n`);
  process.exitCode = exitCode;
} catch (error) {
  // Typed errors (SpoolLocked, SpoolCorrupt, StorageFailed, ...) name their file or field.
  const tag = (error as { _tag?: string })._tag;
  process.stderr.write(
    `spool: ${tag === undefined ? "" : `${tag}: `}${(error as Error).message}\n`,
  );
  process.exitCode = 2;
}

/**
 * Where the writer socket lives: the directory made for it, and the rule for what may be removed
 * at its path. serveWriters may be given a path in a shared directory: it changes nothing there
 * that it did not make, and removes only a stale socket a spool left.
 */
import * as fs from "node:fs/promises";
import * as net from "node:net";
import { createDirectory } from "@spool/adapters";
import { ConfigInvalid } from "@spool/core";

/** A socket directory serveWriters makes is its user's alone: the first gate before SO_PEERCRED. */
const SOCKET_DIRECTORY_MODE = 0o700;
/** The durable epoch beside the socket; its presence also marks the socket as a spool's. */
export const EPOCH_FILE_NAME = "writers.epoch";

/**
 * Makes the socket's directory: one it creates is 0700 (enterable by nobody else), whatever the
 * umask. One that already exists must be a directory of this user, and keeps its mode: it may
 * be shared, and it is not the spool's to close to others.
 */
export async function socketDirectory(dir: string): Promise<void> {
  await createDirectory(dir, SOCKET_DIRECTORY_MODE);
  const stat = await fs.lstat(dir);
  if (!stat.isDirectory() || stat.uid !== process.getuid!()) {
    throw new ConfigInvalid({
      field: "path",
      message: `${dir} must be a directory owned by uid ${process.getuid!()}`,
    });
  }
}

/**
 * Removes what is at `socketPath` only when it is a stale socket of a spool: a socket, beside
 * the epoch file a spool's server leaves, that nobody answers on. Anything else there (a file,
 * a directory, a socket another server answers on, one no spool left) is refused, untouched.
 */
export async function removeStaleSocket(socketPath: string, epochFile: string): Promise<void> {
  const found = await fs.lstat(socketPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (found === undefined) return;
  const refuse = (why: string): never => {
    throw new ConfigInvalid({ field: "path", message: `${socketPath} ${why}; left as it is` });
  };
  if (!found.isSocket()) refuse("exists and is not a socket");
  const answer = await probeSocket(socketPath);
  if (answer !== "ECONNREFUSED") refuse(`is a socket in use (connecting: ${answer})`);
  const epochFound = await fs.lstat(epochFile).then(
    (stat) => stat.isFile(),
    () => false,
  );
  if (!epochFound) refuse(`is a socket no spool served (no ${EPOCH_FILE_NAME} beside it)`);
  await fs.rm(socketPath);
}

/** `connected` when something answers on the socket, else the connection's error code. */
function probeSocket(socketPath: string): Promise<string> {
  return new Promise((resolve) => {
    const probe = net.createConnection(socketPath);
    probe.once("connect", () => {
      // Answered: hang up at once; a reset after this is the other server's to see.
      probe.on("error", () => undefined);
      probe.destroy();
      resolve("connected");
    });
    probe.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

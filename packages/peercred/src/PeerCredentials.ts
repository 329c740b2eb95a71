/**
 * The kernel credentials of the process at the other end of a Unix-domain socket, so a server
 * can tell which local process (and which user) connected to it.
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { constants } from "node:os";
import { socketPeerCredentials } from "./internal/native.js";

/** The peer's process id, user id and group id, as the kernel recorded them at connect time. */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * The credentials of the process at the other end of a connected Unix-domain socket (Linux,
 * `SO_PEERCRED`). Throws an Error with `code` `EBADF` when the socket has no descriptor (not yet
 * connected, or destroyed) and `EAFNOSUPPORT` when it is not a Unix-domain socket.
 *
 * @example
 * import { createServer } from "node:net";
 * const server = createServer((socket) => {
 *   const { pid, uid } = peerCredentials(socket);
 *   socket.end(`hello pid ${pid}, uid ${uid}\n`);
 * });
 * server.listen("/tmp/spool.sock");
 */
export function peerCredentials(socket: Socket): PeerCredentials {
  const fd = socketDescriptor(socket);
  if (fd === undefined) throw noDescriptorError();
  const credentials = socketPeerCredentials(fd);
  assert.ok(Number.isSafeInteger(credentials.pid), "the kernel's pid is an integer");
  assert.ok(Number.isSafeInteger(credentials.uid), "the kernel's uid is an integer");
  assert.ok(Number.isSafeInteger(credentials.gid), "the kernel's gid is an integer");
  return { pid: credentials.pid, uid: credentials.uid, gid: credentials.gid };
}

// Node exposes no public descriptor for a net.Socket; its libuv handle (a Pipe or TCP wrap)
// carries one as `fd` on Unix, -1 once closed, and the socket has no handle before it connects
// or after it is destroyed.
function socketDescriptor(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

// Shaped like Node's own system errors, as the addon's are, so callers handle both the same way.
function noDescriptorError(): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(
    "peerCredentials EBADF: the socket has no file descriptor (not connected yet, or destroyed)",
  );
  error.code = "EBADF";
  error.errno = -constants.errno.EBADF;
  error.syscall = "peerCredentials";
  return error;
}

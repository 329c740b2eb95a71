/**
 * The only module that touches the addon (as lmdb-js keeps its addon behind one file).
 * The addon is `native/peercred.c`, built by node-gyp into `build/Release` at install time.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

interface PeercredAddon {
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
}

const require = createRequire(import.meta.url);

// This file runs as src/internal/native.ts under the spool-source condition and as
// dist/internal/native.js once built; the package's own package.json (resolved through its
// exports) is the one fixed point both share, and node-gyp builds next to binding.gyp beside it.
const packageRoot = dirname(require.resolve("@spool/peercred/package.json"));

const addon = require(join(packageRoot, "build", "Release", "peercred.node")) as PeercredAddon;

/**
 * `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)` after checking that `fd` is a Unix-domain socket;
 * throws a Node-style system error (`code`, `errno`, `syscall`) otherwise.
 */
export function socketPeerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  return addon.peerCredentials(fd);
}

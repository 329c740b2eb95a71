/**
 * The only module that touches the addon. The addon is `native/crc32c.c`, built by node-gyp
 * into `build/Release` at install time.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

interface Crc32cAddon {
  crc32c(bytes: Uint8Array, initial?: number): number;
  sealRecords(target: Uint8Array, starts: Uint32Array, count: number): void;
  readonly hardware: boolean;
}

const require = createRequire(import.meta.url);

// As src/internal/native.ts (spool-source) and as dist/internal/native.js the package's own
// package.json is the fixed point; node-gyp builds next to binding.gyp beside it.
const packageRoot = dirname(require.resolve("@spool/crc32c/package.json"));

export const addon = require(join(packageRoot, "build", "Release", "crc32c.node")) as Crc32cAddon;

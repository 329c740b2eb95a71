/**
 * What test/PackedInstall.test.ts reads off packages and their tarballs: the bare imports of a
 * built package, the newest source it was built from, `npm pack --json`'s report.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";

/** One entry of `npm pack --json`'s report. */
export interface PackedPackage {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  /** The tarball's bytes. */
  readonly size: number;
  readonly unpackedSize: number;
  readonly files: readonly { readonly path: string }[];
}

/** How much of a failed command's output an error carries: the end, where npm says why. */
const OUTPUT_TAIL_CHARACTERS = 4_000;

/** The last part of a command's output, for an error message. */
export function tail(text: string): string {
  return text.length <= OUTPUT_TAIL_CHARACTERS ? text : `…${text.slice(-OUTPUT_TAIL_CHARACTERS)}`;
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** The newest modification time of any file under `dir`, in ms since the epoch. */
export function newestFileMs(dir: string): number {
  return Math.max(0, ...filesUnder(dir).map((file) => statSync(file).mtimeMs));
}

// `from "x"`, `import("x")`, `require("x")` and `createRequire(...)("x")` in emitted ESM.
const SPECIFIER = new RegExp(
  [
    String.raw`(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bcreateRequire\([^)]*\)\s*\(\s*)`,
    String.raw`(["'])([^"'\s]+)\1`,
  ].join(""),
  "g",
);

/** The package a bare specifier names: `@scope/name` or `name`, without a subpath. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

/**
 * The packages the `.js` files under `distDir` import by bare name (builtins included), sorted.
 *
 * @example
 * importedPackages("packages/core/dist") // ["@spool/crc32c", "effect", "ts-pattern"]
 */
export function importedPackages(distDir: string): string[] {
  const names = new Set<string>();
  for (const file of filesUnder(distDir).filter((name) => name.endsWith(".js"))) {
    for (const match of readFileSync(file, "utf8").matchAll(SPECIFIER)) {
      const specifier = match[2];
      if (specifier === undefined || specifier.startsWith(".") || specifier.startsWith("/")) {
        continue;
      }
      names.add(packageOf(specifier));
    }
  }
  return [...names].sort();
}

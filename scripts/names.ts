/**
 * Checks that the names the docs use are the code's: every name a Markdown file imports from a
 * `@spool/...` package is exported by it (a value at run time, or a type named in its entry
 * file), and every `spool.method(` and `writer.method(` a doc calls is a method of `Spool` or
 * `JetStreamSpool` (or of the Effect service, in a doc that uses `SpoolEffect.Spool`) and of a
 * `Writer`. Run from the repository root with the source condition:
 * `npx tsx --conditions=spool-source scripts/names.ts`; it prints each unknown name with its file
 * and line, and exits 1 if there is any.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openSpool, SpoolEffect } from "@spool/actors";
import { JetStreamSpool } from "@spool/jetstream";
import { Effect } from "effect";
import { markdownFiles, root } from "./Markdown.js";

/** Each workspace package's name and folder. */
function workspaces(): Map<string, string> {
  const found = new Map<string, string>();
  for (const parent of ["packages", "examples"]) {
    for (const entry of readdirSync(path.join(root, parent))) {
      const dir = path.join(root, parent, entry);
      const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
      found.set(manifest.name, dir);
    }
  }
  return found;
}

/** The names an object answers to, along its prototype chain (Object's own left out). */
function memberNames(value: object): Set<string> {
  const names = new Set<string>();
  for (let at: object | null = value; at !== null && at !== Object.prototype; ) {
    for (const name of Object.getOwnPropertyNames(at)) names.add(name);
    at = Object.getPrototypeOf(at);
  }
  return names;
}

const packages = workspaces();
const unknown: string[] = [];
let checked = 0;

const dir = mkdtempSync(path.join(tmpdir(), "spool-names-"));
const spool = await openSpool({ dir });
const writer = spool.writer("names");
const spoolMethods = new Set([...memberNames(spool), ...memberNames(JetStreamSpool.prototype)]);
const writerMethods = memberNames(writer);
const serviceMethods = new Set([
  ...spoolMethods,
  ...memberNames(await Effect.runPromise(SpoolEffect.fromStore(spool))),
]);
await spool.close();
rmSync(dir, { recursive: true, force: true });

/** Line number (1-based) of a character offset in `text`. */
function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split("\n").length;
}

for (const file of markdownFiles()) {
  const text = readFileSync(file, "utf8");
  const where = (offset: number) => `${path.relative(root, file)}:${lineOf(text, offset)}`;
  const imports = text.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s*from\s*"(@spool\/[\w-]+)"/g);
  for (const match of imports) {
    const specifier = match[3]!;
    const dirOfPackage = packages.get(specifier);
    if (dirOfPackage === undefined) {
      unknown.push(`${where(match.index)}: no workspace package ${specifier}`);
      continue;
    }
    const module: Record<string, unknown> = await import(specifier);
    const entry = readFileSync(path.join(dirOfPackage, "src", "index.ts"), "utf8");
    for (const raw of match[2]!.split(",")) {
      const name = raw
        .replace(/^\s*type\s+/, "")
        .split(/\s+as\s+/)[0]!
        .trim();
      if (name === "") continue;
      checked += 1;
      if (name in module || new RegExp(`\\b${name}\\b`).test(entry)) continue;
      unknown.push(`${where(match.index)}: ${specifier} exports no ${name}`);
    }
  }
  const usesService = text.includes("SpoolEffect.Spool");
  for (const match of text.matchAll(/\b(spool|writer)\.([A-Za-z]\w*)\(/g)) {
    const [, receiver, method] = match as unknown as [string, string, string];
    // A doc on the Effect API may call the service `yield* SpoolEffect.Spool` gives `spool`.
    const methods =
      receiver === "writer" ? writerMethods : usesService ? serviceMethods : spoolMethods;
    checked += 1;
    if (!methods.has(method))
      unknown.push(`${where(match.index)}: ${receiver}.${method} is no method`);
  }
}
console.log(`${checked} names in the docs checked, ${unknown.length} unknown`);
for (const line of unknown) console.log(line);
process.exitCode = unknown.length > 0 ? 1 : 0;

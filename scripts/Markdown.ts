/** The repository's Markdown files, for the docs checks (links.ts, names.ts). */
import { readdirSync } from "node:fs";
import * as path from "node:path";

export const root = path.resolve(import.meta.dirname, "..");

/** Folders that hold no documentation of ours: dependencies, builds, results, scratch. */
const SKIPPED = new Set(["node_modules", "dist", "build", ".git", ".turbo", "test-output"]);

/** Every `.md` file under `dir`, outside the skipped folders. */
export function markdownFiles(dir: string = root): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...markdownFiles(full));
    else if (entry.name.endsWith(".md")) found.push(full);
  }
  return found;
}

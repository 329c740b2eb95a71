/**
 * Checks every relative link in the repository's Markdown files: the file it points at exists,
 * and, for a link into a Markdown file with a `#fragment`, that file has a heading with that
 * anchor (GitHub's rule: lower case, punctuation dropped, spaces to hyphens). Links to the web
 * are not fetched. It also holds the README under 15 KiB. Run from the repository root:
 * `npx tsx scripts/links.ts` prints each broken link with its file and line, and exits 1 if
 * there is any.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { markdownFiles, root } from "./Markdown.js";

/** GitHub's anchor for a heading's text. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_~]/g, "")
    .replace(/[^\p{L}\p{N}\s-]/gu, "")
    .replace(/\s/g, "-");
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOf(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (anchors === undefined) {
    anchors = new Set();
    const seen = new Map<string, number>();
    let inFence = false;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.startsWith("```")) inFence = !inFence;
      const heading = inFence ? null : /^#{1,6}\s+(.*)$/.exec(line);
      if (heading === null) continue;
      const base = anchor(heading[1]!);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    anchorCache.set(file, anchors);
  }
  return anchors;
}

const broken: string[] = [];
let checked = 0;
for (const file of markdownFiles(root)) {
  let inFence = false;
  for (const [at, line] of readFileSync(file, "utf8").split("\n").entries()) {
    if (line.trimStart().startsWith("```")) inFence = !inFence;
    if (inFence) continue;
    for (const match of line.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      checked += 1;
      const [pathPart, fragment] = target.split("#", 2) as [string, string | undefined];
      const resolved = pathPart === "" ? file : path.resolve(path.dirname(file), pathPart);
      const where = `${path.relative(root, file)}:${at + 1}`;
      if (!existsSync(resolved)) {
        broken.push(`${where}: ${target} (no such file)`);
      } else if (
        fragment !== undefined &&
        statSync(resolved).isFile() &&
        resolved.endsWith(".md") &&
        !anchorsOf(resolved).has(fragment)
      ) {
        broken.push(`${where}: ${target} (no heading with that anchor)`);
      }
    }
  }
}
/** The README is a newcomer's first page: past this it is a manual, and belongs in docs/. */
const README_BYTE_SIZE_MAX = 15 * 1024;
const readmeByteSize = statSync(path.join(root, "README.md")).size;
if (readmeByteSize > README_BYTE_SIZE_MAX) {
  broken.push(
    `README.md: ${readmeByteSize} bytes, over ${README_BYTE_SIZE_MAX}: move detail to docs/`,
  );
}
console.log(`${checked} relative links checked, ${broken.length} broken`);
for (const line of broken) console.log(line);
process.exitCode = broken.length > 0 ? 1 : 0;

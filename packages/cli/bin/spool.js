#!/usr/bin/env node
// The `spool` bin. Runs the built CLI when there is one; right after `npm ci` (nothing built
// yet) it runs the TypeScript source through tsx, so `npx spool ...` works at once.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const built = new URL("../dist/main.js", import.meta.url);
if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  const source = fileURLToPath(new URL("../src/main.ts", import.meta.url));
  const tsx = import.meta.resolve("tsx");
  const child = spawnSync(
    process.execPath,
    ["--import", tsx, "--conditions=spool-source", source, ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  process.exitCode = child.status ?? 2;
}

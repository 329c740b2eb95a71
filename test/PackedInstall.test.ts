/**
 * The published packages, as a user gets them: each is packed with `npm pack`, the tarballs are
 * installed into an empty project outside the monorepo (third-party dependencies from the
 * registry or npm's cache, the addons built by their install scripts), and a script there opens
 * a spool, appends, takes, acks and closes; `npx spool inspect` reads what it left, and the
 * shipped declarations type-check a small file. What a package forgot to ship or declare fails
 * here, with the command's own output.
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importedPackages, newestFileMs, type PackedPackage, tail } from "./packed-install/Pack.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const fixtures = path.join(root, "test", "packed-install");
const VERSION = "0.2.0";

/** The published packages, leaves first (the order they build in). */
const PUBLISHED = [
  { name: "@spool/crc32c", dir: "packages/crc32c", addon: "crc32c" },
  { name: "@spool/peercred", dir: "packages/peercred", addon: "peercred" },
  { name: "@spool/core", dir: "packages/core" },
  { name: "@spool/adapters", dir: "packages/adapters" },
  { name: "@spool/actors", dir: "packages/actors" },
  { name: "@spool/cli", dir: "packages/cli" },
  { name: "@spool/otel", dir: "packages/otel" },
] as const;

/**
 * Bare imports a dist may name without declaring them, each with its reason. `tsx` is named
 * only in the worker's boot code for a spool run from its TypeScript sources (`spool-source`).
 */
const UNDECLARED_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  "@spool/actors": ["tsx"],
};

/** A command's output; rejects, with what it printed, when it exits other than 0. */
function command(file: string, args: readonly string[], cwd: string): Promise<string> {
  // The npm that runs this test passes its own settings down as npm_* variables (the workspace,
  // the project's prefix); the project under test must get npm's ordinary ones.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_")),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) return resolve(stdout);
      const ran = `${path.basename(file)} ${args.join(" ")} (in ${cwd})`;
      const printed = `--- stderr\n${tail(stderr)}\n--- stdout\n${tail(stdout)}`;
      reject(new Error(`${ran} exited ${code ?? signal}\n${printed}`));
    });
  });
}

/** Builds each published package whose dist is missing or older than its sources. */
async function buildIfNeeded(): Promise<void> {
  const tsc = path.join(root, "node_modules", ".bin", "tsc");
  for (const { dir } of PUBLISHED) {
    const packageDir = path.join(root, dir);
    const manifest = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8"));
    const entry = path.join(packageDir, manifest.exports["."].default);
    const sourcesMs = newestFileMs(path.join(packageDir, "src"));
    if (existsSync(entry) && statSync(entry).mtimeMs >= sourcesMs) continue;
    await command(tsc, ["-p", path.join(packageDir, "tsconfig.build.json")], root);
  }
}

describe("the published packages, packed and installed into an empty project", () => {
  const scratch = mkdtempSync(path.join(tmpdir(), "spool-packed-"));
  const tarballs = path.join(scratch, "tarballs");
  const project = path.join(scratch, "project");
  let packed: PackedPackage[] = [];

  beforeAll(async () => {
    await buildIfNeeded();
    mkdirSync(tarballs);
    mkdirSync(project);
    const workspaces = PUBLISHED.flatMap(({ name }) => ["-w", name]);
    const json = await command(
      "npm",
      ["pack", "--json", "--pack-destination", tarballs, ...workspaces],
      root,
    );
    packed = JSON.parse(json) as PackedPackage[];
    const tarball = (name: string) => {
      const found = packed.find((one) => one.name === name);
      if (found === undefined) throw new Error(`npm pack made no tarball for ${name}`);
      return `file:${path.join(tarballs, found.filename)}`;
    };
    const manifest = {
      name: "spool-packed-install",
      private: true,
      type: "module",
      dependencies: Object.fromEntries(PUBLISHED.map(({ name }) => [name, tarball(name)])),
      // npm 11 runs a dependency's install script with a warning unless the project approves
      // it; a tarball is approved by its path, a registry package by its name.
      allowScripts: {
        ...Object.fromEntries(
          PUBLISHED.flatMap((one) => ("addon" in one ? [[tarball(one.name), true]] : [])),
        ),
        "@riaskov/mmap-io": true,
      },
    };
    writeFileSync(path.join(project, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    await command("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], project);
    const sizes = packed.map((one) => `${one.name} ${one.size} B (${one.unpackedSize} unpacked)`);
    console.info(`packed: ${sizes.join(", ")}`);
  }, 900_000);

  afterAll(() => {
    if (process.env.KEEP_PACKED === undefined) rmSync(scratch, { recursive: true, force: true });
  });

  it.each(PUBLISHED)("$name packs its built entry, README and LICENSE", (published) => {
    const one = packed.find((candidate) => candidate.name === published.name);
    expect(one, `npm pack made no tarball for ${published.name}`).toBeDefined();
    const files = new Set(one!.files.map((file) => file.path));
    const manifest = JSON.parse(
      readFileSync(path.join(root, published.dir, "package.json"), "utf8"),
    );
    const shipped = [
      "package.json",
      "README.md",
      "LICENSE",
      manifest.exports["."].default.replace(/^\.\//, ""),
      manifest.exports["."].types.replace(/^\.\//, ""),
      ...("addon" in published ? ["binding.gyp", `native/${published.addon}.c`] : []),
      ...Object.values<string>(manifest.bin ?? {}),
    ];
    for (const file of shipped) expect(files, `${published.name} ships ${file}`).toContain(file);
    expect([...files].filter((file) => file.startsWith("build/"))).toEqual([]);
    expect(manifest.private).toBeUndefined();
    expect(manifest.version).toBe(VERSION);
    expect(manifest.license).toBe("MIT");
    expect(manifest.engines).toEqual({ node: ">=20" });
  });

  it.each(PUBLISHED)("$name declares every package its dist imports", (published) => {
    const packageDir = path.join(root, published.dir);
    const manifest = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8"));
    const declared = new Set([
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}),
      ...(UNDECLARED_ALLOWED[published.name] ?? []),
    ]);
    const builtins = new Set(builtinModules);
    const undeclared = importedPackages(path.join(packageDir, "dist")).filter(
      (name) => !name.startsWith("node:") && !builtins.has(name) && !declared.has(name),
    );
    expect(undeclared, `${published.name} imports these without declaring them`).toEqual([]);
  });

  it("every package installed from its tarball, none from the registry", () => {
    const lock = JSON.parse(readFileSync(path.join(project, "package-lock.json"), "utf8"));
    for (const { name } of PUBLISHED) {
      expect(lock.packages[`node_modules/${name}`]?.resolved, name).toMatch(/^file:.*\.tgz$/);
      expect(lock.packages[`node_modules/${name}`]?.version, name).toBe(VERSION);
    }
  });

  it("a script there opens a spool, appends, takes, acks and closes", async () => {
    writeFileSync(path.join(project, "smoke.mjs"), readFileSync(path.join(fixtures, "smoke.mjs")));
    const output = await command(
      process.execPath,
      ["smoke.mjs", path.join(project, "data"), path.join(project, "mapped")],
      project,
    );
    const lines = output.trim().split("\n");
    expect(JSON.parse(lines.at(-1) ?? "null")).toEqual({
      appended: [1, 2, 3],
      durability: "flushed",
      taken: { seq: 1, payload: "first from a tarball", attempt: 1 },
      states: ["done", "queued", "queued"],
      depth: 2,
      mappedPayloads: ["through the map"],
      measuredDurability: "flushed",
      checkValue: 0xe3069283,
    });
  });

  it("npx spool inspect and verify there read what the script left", async () => {
    const data = path.join(project, "data");
    expect(existsSync(data), "the script's spool is there (the test before ran)").toBe(true);
    // --no: never fetch some other package called `spool` when ours did not install its bin.
    const inspect = await command("npx", ["--no", "spool", "inspect", data], project);
    expect(inspect).toContain(`spool ${data}`);
    expect(inspect).toMatch(/records\s+3 \(seq 1\.\.3\)/);
    expect(inspect).toMatch(/messages\s+queued 2, leased 0, done 1/);
    const verify = await command("npx", ["--no", "spool", "verify", data], project);
    expect(verify).toContain("every record and index entry is intact");
  });

  it("the shipped declarations type-check a file that uses each package", async () => {
    writeFileSync(
      path.join(project, "types-check.ts"),
      readFileSync(path.join(fixtures, "types-check.ts")),
    );
    const tsconfig = {
      compilerOptions: {
        strict: true,
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        // The declarations name Node's types; the project has no @types/node to check them by.
        skipLibCheck: true,
        noEmit: true,
        types: [],
      },
      files: ["types-check.ts"],
    };
    writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify(tsconfig));
    const tsc = path.join(root, "node_modules", ".bin", "tsc");
    await expect(command(tsc, ["-p", "tsconfig.json"], project)).resolves.toBe("");
  });
});

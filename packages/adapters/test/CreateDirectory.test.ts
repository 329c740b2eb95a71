import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { createDirectory } from "../src/index.js";

/** A mode the usual umask (022) would narrow: group write. */
const GROUP_WRITABLE = 0o770;

describe("createDirectory", () => {
  it("makes every missing parent with the mode, the umask notwithstanding", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "create-directory-"));
    const dir = path.join(root, "a", "b", "c");
    await createDirectory(dir, GROUP_WRITABLE);
    for (const made of ["a", "a/b", "a/b/c"]) {
      expect((await fs.stat(path.join(root, made))).mode & 0o777).toBe(GROUP_WRITABLE);
    }
    await fs.rm(root, { recursive: true });
  });

  it("takes a relative path, and leaves a directory that exists as it was", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "create-directory-"));
    await fs.chmod(root, 0o755);
    const relative = path.relative(process.cwd(), path.join(root, "run"));
    await createDirectory(relative, GROUP_WRITABLE);
    expect((await fs.stat(path.join(root, "run"))).mode & 0o777).toBe(GROUP_WRITABLE);
    expect((await fs.stat(root)).mode & 0o777).toBe(0o755);
    await fs.rm(root, { recursive: true });
  });
});

import { writerMachine } from "@spool/actors";
import { describe, expect, it } from "vitest";
import {
  checkWriterModel,
  declaredWriterTransitions,
  runWriterPath,
  writerEdgePaths,
  writerStatePaths,
  writerTransitionsTaken,
} from "../src/index.js";

describe("writer model-based tests (claim 34)", () => {
  it("the sender runtime follows the writer machine on a shortest path to every state", async () => {
    const paths = writerStatePaths();
    expect(paths.length).toBeGreaterThan(20);
    for (const path of paths) await runWriterPath(path);
  });

  it("the sender runtime follows the writer machine across every edge of its state graph", async () => {
    const paths = writerEdgePaths();
    expect(paths.length).toBeGreaterThan(writerStatePaths().length);
    for (const path of paths) await runWriterPath(path);
  });

  it("the paths take every transition the writer machine declares", () => {
    const declared = declaredWriterTransitions();
    expect(declared.size).toBeGreaterThanOrEqual(8);
    const taken = writerTransitionsTaken(writerMachine, [
      ...writerStatePaths(),
      ...writerEdgePaths(),
    ]);
    expect([...declared].filter((key) => !taken.has(key))).toEqual([]);
  });

  it("the model check passes the writer machine and fails it with a broken guard", async () => {
    const sound = await checkWriterModel(writerMachine);
    expect(sound.failures).toEqual([]);
    expect(sound.missing).toEqual([]);
    const mutant = writerMachine.provide({ guards: { hasGroupWaiting: () => false } });
    const broken = await checkWriterModel(mutant);
    expect(broken.failures.length).toBeGreaterThan(0);
    expect(broken.missing).toContain("idle --always[hasGroupWaiting]--> acquiring");
  });

  it("fails a writer machine that ignores a lock taken as its group arrived", async () => {
    const mutant = writerMachine.provide({ guards: { tookLock: () => false } });
    const broken = await checkWriterModel(mutant);
    expect(broken.failures.length).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from "vitest";
import {
  declaredWriterSteps,
  runWriterPath,
  writerStatePaths,
  writerTransitionPaths,
} from "../src/testing/index.js";

describe("writer model-based tests (claim 34)", () => {
  const covered = new Set<string>();

  it("the sender runtime follows the model on a shortest path to every state", async () => {
    const paths = writerStatePaths();
    expect(paths.length).toBeGreaterThan(20);
    for (const path of paths) for (const step of await runWriterPath(path)) covered.add(step);
  });

  it("the sender runtime follows the model across every edge of the state graph", async () => {
    for (const path of writerTransitionPaths()) {
      for (const step of await runWriterPath(path)) covered.add(step);
    }
  });

  it("the paths took every declared step of the writer", () => {
    const missing = [...declaredWriterSteps()].filter((step) => !covered.has(step));
    expect(missing).toEqual([]);
  });
});

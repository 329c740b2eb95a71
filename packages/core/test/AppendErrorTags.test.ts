import { describe, expect, it } from "vitest";
import {
  APPEND_ERROR_TAGS,
  ConfigInvalid,
  isAppendError,
  isAppendErrorTag,
  NotLeased,
  SpoolClosed,
  SpoolFull,
} from "../src/index.js";

describe("the append errors' tags", () => {
  it("holds the ten tags of AppendError", () => {
    expect(APPEND_ERROR_TAGS.size).toBe(10);
    expect(isAppendErrorTag("SpoolFull")).toBe(true);
    expect(isAppendErrorTag("NotLeased")).toBe(false);
  });

  it("tells an append error from other errors and from non-errors", () => {
    expect(isAppendError(new SpoolClosed({ dir: "/d" }))).toBe(true);
    expect(isAppendError(new SpoolFull({ dir: "/d" } as never))).toBe(true);
    expect(isAppendError(new NotLeased({ seq: 1, reason: "unknown" }))).toBe(false);
    expect(isAppendError(new ConfigInvalid({ field: "x", reason: "y" } as never))).toBe(false);
    for (const value of [undefined, null, 7, "SpoolFull", {}, { _tag: 3 }]) {
      expect(isAppendError(value)).toBe(false);
    }
  });
});

import { describe, expect, it } from "vitest";
import { connectionCountMax, DESCRIPTOR_MARGIN, openFileLimit } from "../src/Descriptors.js";

describe("descriptors", () => {
  it("reads the soft open-file limit from /proc/self/limits", () => {
    const limits = [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max open files            300                  4096                 files     ",
    ].join("\n");
    expect(openFileLimit(limits)).toBe(300);
    expect(openFileLimit("Max open files  unlimited  unlimited  files")).toBeUndefined();
    expect(openFileLimit("")).toBeUndefined();
  });

  it("caps connections so the descriptors held, forwarding's and a margin stay free", () => {
    const budget = { openCountMax: 1024, inUseCount: 30, reservedSocketCount: 40 };
    expect(connectionCountMax({ ...budget, openFileLimit: 300 })).toBe(
      300 - 30 - 40 - DESCRIPTOR_MARGIN,
    );
    expect(connectionCountMax({ ...budget, openFileLimit: 20_000 })).toBe(1024);
    expect(connectionCountMax({ ...budget, openFileLimit: 100 })).toBe(1);
  });
});

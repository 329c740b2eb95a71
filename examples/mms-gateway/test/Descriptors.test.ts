import { describe, expect, it } from "vitest";
import {
  connectionCountMax,
  DESCRIPTOR_MARGIN,
  openFileLimit,
  withOpenCountMax,
} from "../src/Descriptors.js";
import { DEFAULT_CONNECTION_LIMITS } from "../src/Limits.js";

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

  it("keeps the unauthenticated cap at half the open cap when the descriptor limit lowers it", () => {
    const lowered = withOpenCountMax(DEFAULT_CONNECTION_LIMITS, 166);
    expect(lowered).toMatchObject({
      openCountMax: 166,
      unauthenticatedCountMax: 83,
      perAddressCountMax: 166,
    });
    expect(withOpenCountMax(DEFAULT_CONNECTION_LIMITS, 1).unauthenticatedCountMax).toBe(1);
    const configured = { ...DEFAULT_CONNECTION_LIMITS, openCountMax: 300 };
    expect(withOpenCountMax(configured, 300).unauthenticatedCountMax).toBe(300);
  });
});

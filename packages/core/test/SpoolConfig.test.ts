import { describe, expect, it } from "vitest";
import { ConfigInvalid, DEFAULT_CONFIG, DURATION_MS_MAX, resolveConfig } from "../src/index.js";

describe("resolveConfig", () => {
  it("fills in every default", () => {
    expect(resolveConfig({})).toEqual(DEFAULT_CONFIG);
  });

  it.each([
    [{ batchCountMax: -1 }, "batchCountMax"],
    [{ gatherTimeMsMax: "soon" }, "gatherTimeMsMax"],
    [{ batchCountMaxx: 3 }, "batchCountMaxx"],
    [{ segmentByteSize: 10_000 }, "segmentByteSize"],
    [{ recordPayloadByteSizeMax: 1 << 30 }, "recordPayloadByteSizeMax"],
    [{ maxAttempts: 65_536 }, "maxAttempts"],
  ])("rejects %j with ConfigInvalid naming %s", (options, field) => {
    try {
      resolveConfig(options);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigInvalid);
      expect((error as ConfigInvalid).field).toBe(field);
    }
  });

  it("refuses a config with every timed trigger disabled: nothing would flush a lone append", () => {
    expect(() =>
      resolveConfig({ idleTimeMsMax: null, gatherTimeMsMax: null, sinceLastFlushMs: null }),
    ).toThrow(ConfigInvalid);
  });

  it.each([
    ["idleTimeMsMax", { gatherTimeMsMax: null }],
    ["gatherTimeMsMax", { idleTimeMsMax: null }],
    ["sinceLastFlushMs", { idleTimeMsMax: null, gatherTimeMsMax: null, sinceLastFlushMs: 100 }],
  ])("accepts a config whose only timed trigger is %s", (_, options) => {
    expect(() => resolveConfig(options)).not.toThrow();
  });

  it.each([
    [{ gatherTimeMsMax: DURATION_MS_MAX + 1 }, "gatherTimeMsMax"],
    [{ idleTimeMsMax: 1e12 }, "idleTimeMsMax"],
    [{ sinceLastFlushMs: 2 ** 40 }, "sinceLastFlushMs"],
    [{ confirmTimeoutMs: 2 ** 31 }, "confirmTimeoutMs"],
    [{ leaseMs: 2 ** 32 }, "leaseMs"],
  ])("refuses a duration longer than a timer can wait: %j", (options, field) => {
    try {
      resolveConfig(options);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigInvalid);
      expect((error as ConfigInvalid).field).toBe(field);
    }
  });

  it("takes maxAttempts up to 65535, the most an index entry counts", () => {
    expect(resolveConfig({ maxAttempts: 65_535 }).maxAttempts).toBe(65_535);
  });

  it("disables a trigger with null", () => {
    expect(resolveConfig({ idleTimeMsMax: null }).idleTimeMsMax).toBeNull();
  });
});

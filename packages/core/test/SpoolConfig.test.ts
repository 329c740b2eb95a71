import { describe, expect, it } from "vitest";
import { ConfigInvalid, DEFAULT_CONFIG, resolveConfig } from "../src/index.js";

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
  ])("rejects %j with ConfigInvalid naming %s", (options, field) => {
    try {
      resolveConfig(options);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigInvalid);
      expect((error as ConfigInvalid).field).toBe(field);
    }
  });

  it("disables a trigger with null", () => {
    expect(resolveConfig({ idleTimeMsMax: null }).idleTimeMsMax).toBeNull();
  });
});

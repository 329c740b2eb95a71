import { describe, expect, it } from "vitest";
import { openSpool } from "../src/spool/Spool.js";
import { temporaryDirectory } from "./helpers.js";

describe("records()", () => {
  it("hands out each payload in a buffer of its own, not a view of the chunk read from disk", async () => {
    const dir = temporaryDirectory();
    const spool = await openSpool({ dir });
    const writer = spool.writer();
    await Promise.all([writer.append("first"), writer.append("second")]);
    await spool.close();
    const reopened = await openSpool({ dir });
    const payloads: Uint8Array[] = [];
    for await (const record of reopened.records()) payloads.push(record.payload);
    await reopened.close();
    expect(payloads.map((payload) => Buffer.from(payload).toString())).toEqual(["first", "second"]);
    for (const payload of payloads) expect(payload.buffer.byteLength).toBe(payload.byteLength);
  });
});

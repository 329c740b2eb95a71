/**
 * The power-cut simulator over a few hundred seeds (`npm run simulate -- --seeds N` runs more),
 * and injected I/O errors.
 */

import { openSpool } from "@spool/actors";
import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { describe, expect, it } from "vitest";
import { simulate } from "./sim/Simulate.js";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("seeded power-cut simulation", () => {
  it("keeps acknowledged appends and acks across a power cut (300 seeds)", async () => {
    let ackedAppends = 0;
    for (let seed = 1; seed <= 300; seed++) ackedAppends += (await simulate(seed)).ackedAppends;
    // The seeds did real work, not 300 empty runs.
    expect(ackedAppends).toBeGreaterThan(1000);
  });
});

describe("injected I/O errors", () => {
  it.each(["write", "flush"] as const)(
    "fails the batch whose %s failed with a typed error, never a false ack, and keeps earlier appends",
    async (operation) => {
      const disk = new MemoryDisk();
      const spool = await openSpool({ dir: "faults", adapter: memoryAdapter(disk) });
      const writer = spool.writer();
      const { seq } = await writer.append("kept");
      disk.failNext(operation, operation === "write" ? "ENOSPC" : "EIO");
      const failed = await writer.append("lost").then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failed).toMatchObject({
        _tag: "FlushFailed",
        code: operation === "write" ? "ENOSPC" : "EIO",
      });
      await spool.close();
      const reopened = await openSpool({ dir: "faults", adapter: memoryAdapter(disk.powerCut(7)) });
      const records = [];
      for await (const record of reopened.records())
        records.push([record.seq, text(record.payload)]);
      expect(records[0]).toEqual([seq, "kept"]);
      await reopened.close();
    },
  );
});

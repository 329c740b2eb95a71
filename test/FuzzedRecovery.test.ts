/**
 * Fuzzed recovery: random bytes of the data and index files flipped or zeroed to the end, then
 * open, read and verify; a spool refused as corrupt is salvaged and opened again. Never an
 * untyped error, never a payload that was not appended.
 */

import { openSpool, type Spool, salvageSpool, verifySpool } from "@spool/actors";
import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { SpoolCorrupt, segmentNumber } from "@spool/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const options = { dir: "fuzz", segmentByteSize: 65536, indexSegmentEntries: 64 };

async function prepared(): Promise<{ disk: MemoryDisk; payloads: Set<string> }> {
  const disk = new MemoryDisk();
  const spool = await openSpool({ ...options, adapter: memoryAdapter(disk) });
  const writer = spool.writer();
  const payloads = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const payload = `payload ${i} `.padEnd(50 + ((i * 53) % 700), "z");
    payloads.add(payload);
    await writer.append(payload);
  }
  for (let i = 0; i < 10; i++) await spool.ack((await spool.take())!.seq);
  await spool.close();
  return { disk, payloads };
}

/** Reads every record and takes every message, checking each payload was appended. */
async function readAll(spool: Spool, payloads: Set<string>): Promise<void> {
  for await (const record of spool.records()) {
    expect(payloads.has(new TextDecoder().decode(record.payload))).toBe(true);
  }
  for (let lease = await spool.take(); lease; lease = await spool.take()) {
    expect(payloads.has(new TextDecoder().decode(lease.payload))).toBe(true);
  }
}

/** Opens the spool; one refused as corrupt (damaged records before valid ones) is salvaged. */
async function openOrSalvage(disk: MemoryDisk): Promise<{ spool: Spool; salvaged: boolean }> {
  const adapter = memoryAdapter(disk);
  try {
    return { spool: await openSpool({ ...options, adapter }), salvaged: false };
  } catch (error) {
    if (!(error instanceof SpoolCorrupt) || error.seqFrom === undefined) throw error;
    await salvageSpool("fuzz", { adapter, keepDamaged: async () => undefined });
    return { spool: await openSpool({ ...options, adapter }), salvaged: true };
  }
}

const typed = (error: unknown) =>
  typeof error === "object" &&
  error !== null &&
  typeof (error as { _tag?: unknown })._tag === "string";

describe("fuzzed recovery", () => {
  it("opens, reads and verifies damaged files with typed errors only and intact payloads", async () => {
    const damage = fc.record({
      file: fc.constantFrom("data" as const, "index" as const),
      offset: fc.nat({ max: 40 * 800 }),
      kind: fc.constantFrom("flip" as const, "zeroTail" as const),
      bit: fc.integer({ min: 0, max: 7 }),
    });
    let opened = 0;
    let salvaged = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(damage, { minLength: 1, maxLength: 4 }), async (damages) => {
        const { disk, payloads } = await prepared();
        for (const { file, offset, kind, bit } of damages) {
          const target = file === "data" ? disk : disk.index();
          const bytes = target.durable.get(segmentNumber(1));
          if (bytes === undefined) continue;
          const at = Math.min(offset, bytes.byteLength - 1);
          if (kind === "flip") bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
          else bytes.fill(0, at);
        }
        const survivor = disk.afterPowerCut();
        try {
          await verifySpool("fuzz", { adapter: memoryAdapter(survivor) });
          const { spool, salvaged: wasSalvaged } = await openOrSalvage(survivor);
          opened += 1;
          if (wasSalvaged) salvaged += 1;
          await readAll(spool, payloads);
          await spool.close();
        } catch (error) {
          if (!typed(error)) throw error;
        }
      }),
      { numRuns: 60 },
    );
    // Damage is mostly recovered from (by opening, or by an explicit salvage), not refused.
    expect(opened).toBeGreaterThan(30);
    expect(salvaged).toBeGreaterThan(0);
  });
});

import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openSpool } from "../src/index.js";
import { durableSeqs } from "./helpers.js";

/** One writer's plan: payload sizes, appended in bursts of `burst` without awaiting. */
const writerPlan = fc.record({
  sizes: fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 25 }),
  burst: fc.integer({ min: 1, max: 6 }),
  asyncEvery: fc.integer({ min: 0, max: 4 }),
});

const spoolOptions = fc.record({
  maxPageSpan: fc.integer({ min: 1, max: 8 }),
  temporaryStorageCountMax: fc.integer({ min: 0, max: 6 }),
  temporaryStorageByteSizeMax: fc.integer({ min: 0, max: 8000 }),
  batchCountMax: fc.option(fc.integer({ min: 1, max: 10 }), { nil: null }),
});

describe("openSpool under random load (fast-check prints a seed and path on failure)", () => {
  it("acknowledges every append once, with dense seqs, in each writer's order, and only when durable", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(writerPlan, { minLength: 1, maxLength: 6 }),
        spoolOptions,
        async (plans, options) => {
          const disk = new MemoryDisk();
          const spool = await openSpool({
            dir: "random",
            adapter: memoryAdapter(disk),
            segmentByteSize: 64 * 1024,
            ...options,
          });
          const acknowledged: {
            writer: number;
            index: number;
            seq: number;
            durableAtAck: boolean;
          }[] = [];
          await Promise.all(
            plans.map(async (plan, w) => {
              const writer = spool.writer();
              for (let start = 0; start < plan.sizes.length; start += plan.burst) {
                const burst = plan.sizes
                  .slice(start, start + plan.burst)
                  .map(async (size, offset) => {
                    const index = start + offset;
                    const durability =
                      plan.asyncEvery > 0 && index % plan.asyncEvery === 0 ? "async" : "flushed";
                    const payload = new Uint8Array(size).fill((w * 31 + index) & 0xff);
                    const result = await writer.append(payload, { durability });
                    const durableAtAck =
                      result.durability === "async" || durableSeqs(disk).has(result.seq);
                    acknowledged.push({ writer: w, index, seq: result.seq, durableAtAck });
                  });
                await Promise.all(burst);
              }
            }),
          );
          await spool.close();
          const total = plans.reduce((sum, plan) => sum + plan.sizes.length, 0);
          expect(acknowledged).toHaveLength(total);
          expect(acknowledged.every((ack) => ack.durableAtAck)).toBe(true);
          expect(acknowledged.map((ack) => ack.seq).sort((a, b) => a - b)).toEqual(
            Array.from({ length: total }, (_, i) => i + 1),
          );
          for (const [w] of plans.entries()) {
            const own = acknowledged
              .filter((ack) => ack.writer === w)
              .sort((a, b) => a.index - b.index);
            const seqs = own.map((ack) => ack.seq);
            expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          }
          expect(durableSeqs(disk.afterPowerCut()).size).toBe(total);
        },
      ),
      { numRuns: 60 },
    );
  });
});

import { readFileSync } from "node:fs";
import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { openSpool, SpoolEffect } from "../../src/index.js";
import { gateway, type Recipient, RecipientBusy, RecipientRejected } from "./EffectGateway.js";

/**
 * A recipient that takes most messages at once, refuses `flaky-*` twice before taking it,
 * `poison-*` every time, and `unknown-*` for good; it keeps every message it took, in order.
 */
function fakeRecipient() {
  const took: string[] = [];
  const recipient: Recipient = {
    deliver: (message, attempt) =>
      Effect.suspend((): Effect.Effect<void, RecipientBusy | RecipientRejected> => {
        const to = message.split("-")[0] ?? message;
        if (message.startsWith("poison")) return Effect.fail(new RecipientBusy({ to }));
        if (message.startsWith("flaky") && attempt <= 2) {
          return Effect.fail(new RecipientBusy({ to }));
        }
        if (message.startsWith("unknown")) {
          return Effect.fail(new RecipientRejected({ to, reason: "no such subscriber" }));
        }
        took.push(message);
        return Effect.void;
      }),
  };
  return { recipient, took };
}

describe("a gateway-shaped program on the Effect API", () => {
  it("stores what fits, delivers each stored message once, retries, and dead-letters the poison", async () => {
    const disk = new MemoryDisk();
    const { recipient, took } = fakeRecipient();
    const sources = {
      "smsc-1": ["a-1", "flaky-1", "poison-1", "unknown-1"],
      "smsc-2": ["b-1", "b-2", "flaky-2", "x".repeat(2000)],
    };
    const layer = SpoolEffect.layer({
      dir: "gateway",
      adapter: memoryAdapter(disk),
      maxAttempts: 4,
      recordPayloadByteSizeMax: 1024,
    });
    const program = Effect.gen(function* () {
      const result = yield* gateway(sources, recipient);
      const spool = yield* SpoolEffect.Spool;
      return { ...result, depth: yield* spool.depth, acks: (yield* spool.stats).acks };
    });
    const result = await Effect.runPromise(Effect.provide(program, layer));
    // The oversize message was refused by name (RecordTooLarge), the rest stored.
    expect(result.receipts.filter((receipt) => receipt.status === "stored")).toHaveLength(7);
    expect(result.receipts.filter((receipt) => receipt.status !== "stored")).toEqual([
      { status: "refused", reason: "RecordTooLarge" },
    ]);
    // Each message the recipient took, it took once; every one was acked.
    expect([...took].sort()).toEqual(["a-1", "b-1", "b-2", "flaky-1", "flaky-2"]);
    const byStatus = (status: string) =>
      result.outcomes.filter((outcome) => outcome.status === status).length;
    expect([byStatus("delivered"), byStatus("rejected"), byStatus("dead")]).toEqual([5, 1, 1]);
    expect(result.acks).toBe(6);
    expect(result.depth).toBe(0);
    expect(result.deadLetters.map((letter) => [letter.attempts, text(letter.payload)])).toEqual([
      [4, "poison-1"],
    ]);
    // The layer closed the spool with its scope: reopened, nothing is left to deliver.
    const reopened = await openSpool({ dir: "gateway", adapter: memoryAdapter(disk) });
    expect(reopened.depth()).toBe(0);
    expect((await reopened.deadLetters()).map((letter) => letter.attempts)).toEqual([4]);
    await reopened.close();
  });

  it("docs/effect.md quotes this program whole", () => {
    const program = readFileSync(new URL("./EffectGateway.ts", import.meta.url), "utf8");
    const docs = readFileSync(new URL("../../../../docs/effect.md", import.meta.url), "utf8");
    expect(docs).toContain(`\`\`\`ts\n${program}\`\`\``);
  });
});

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/**
 * Spool as the disk queue of a multimedia message gateway (claims 4, 20, 56-57), in miniature:
 * protocol handlers, each with its own writer, store every submitted message durably before
 * they accept it, and a forwarder takes, delivers and acks. Then the gateway stops without
 * closing its spool and restarts: every accepted message is delivered at least once.
 * (The full MM7 gateway is `examples/mms-gateway`.)
 */

import { openSpool } from "@spool/actors";
import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { describe, expect, it } from "vitest";

const HANDLERS = 6;
const SUBMISSIONS_PER_HANDLER = 50;

/** A multipart MMS submission as a handler would receive it: a text part and an image part. */
function submission(handler: number, n: number): string {
  const boundary = `part-${handler}-${n}`;
  return [
    `--${boundary}`,
    "Content-Type: text/plain",
    "",
    `hello from handler ${handler}, message ${n}`,
    `--${boundary}`,
    "Content-Type: image/gif",
    "",
    "GIF89a".padEnd(200 + ((handler * 31 + n * 7) % 500), "\u0001"),
    `--${boundary}--`,
  ].join("\r\n");
}

describe("a multimedia message gateway on Spool", () => {
  it("accepts a message from a gateway's processing thread only once it is durable, and delivers every accepted one after a crash", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({ dir: "/gateway", adapter: memoryAdapter(disk) });
    const accepted = new Map<number, string>();
    const handler = async (index: number) => {
      const writer = spool.writer(`mm7-handler-${index}`);
      for (let n = 0; n < SUBMISSIONS_PER_HANDLER; n++) {
        const body = submission(index, n);
        const { seq, durability } = await writer.append(body);
        // The gateway answers the submitter only here: the message is on stable storage.
        expect(durability).toBe("flushed");
        accepted.set(seq, body);
      }
    };
    const delivered = new Map<number, string>();
    const decoder = new TextDecoder();
    const forwarder = spool.consume(
      async (lease) => {
        delivered.set(lease.seq, decoder.decode(lease.payload));
      },
      { concurrency: 4 },
    );
    await Promise.all(Array.from({ length: HANDLERS }, (_, index) => handler(index)));
    expect(accepted.size).toBe(HANDLERS * SUBMISSIONS_PER_HANDLER);

    // The gateway dies without closing: only what the disk kept survives.
    const survivor = disk.powerCut(7);
    await forwarder.stop();
    const restarted = await openSpool({ dir: "/gateway", adapter: memoryAdapter(survivor) });
    for (let lease = await restarted.take(); lease !== undefined; lease = await restarted.take()) {
      delivered.set(lease.seq, decoder.decode(lease.payload));
      await restarted.ack(lease.seq);
    }
    for (const [seq, body] of accepted) expect(delivered.get(seq)).toBe(body);
    await restarted.close();
  });
});

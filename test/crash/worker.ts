/**
 * The process the kill test SIGKILLs: appends and consumes on a spool as fast as it can and
 * writes a line to stdout, synchronously, for every append and ack that resolved:
 * `A <seq> <payload>` and `K <seq>`. What it printed is what it was promised.
 */
import { writeSync } from "node:fs";
import { openSpool } from "@spool/actors";
import { fileAdapter } from "@spool/adapters";

const dir = process.argv[2];
const round = process.argv[3] ?? "0";
if (dir === undefined) throw new Error("usage: worker.ts DIR ROUND");
// maxAttempts is high: the test checks durability, not dead letters, and a message can be
// leased by a killed worker many rounds in a row.
// Odd rounds flush small batches on this thread (blockingFlushByteSizeMax), even rounds
// through libuv's pool: a kill lands in either kind of flush.
const blocking = Number(round) % 2 === 1;
const spool = await openSpool({
  dir,
  adapter: fileAdapter(blocking ? { blockingFlushByteSizeMax: 64 * 1024 } : {}),
  segmentByteSize: 256 * 1024,
  indexSegmentEntries: 1024,
  maxAttempts: 1000,
});
const say = (line: string) => writeSync(1, `${line}\n`);
say("READY");

const appender = async (writerIndex: number): Promise<void> => {
  const writer = spool.writer();
  for (let n = 0; ; n++) {
    const payload = `r${round}-w${writerIndex}-n${n}-`.padEnd(100 + ((n * 37) % 900), "x");
    const { seq } = await writer.append(payload);
    say(`A ${seq} ${payload}`);
  }
};
for (let w = 0; w < 8; w++) void appender(w);
for (let c = 0; c < 4; c++) {
  void (async () => {
    for (;;) {
      const lease = await spool.take();
      if (lease === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      await spool.ack(lease.seq);
      say(`K ${lease.seq}`);
    }
  })();
}

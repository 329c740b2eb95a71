/**
 * The process the kill test SIGKILLs: appends and consumes on a spool as fast as it can and
 * writes a line, synchronously, for every append and ack that resolved: `A <seq> <payload>` and
 * `K <seq>`, each written only after its promise resolved. What it wrote is what it was promised.
 *
 * The lines go to a regular file (argv[4]), not to stdout: a write to a pipe the parent has not
 * drained fails with EAGAIN once the pipe is full (a loaded machine), which killed the worker
 * and lost its own record of what it was promised. A write to a file never waits for a reader,
 * and what it wrote is in the page cache, kept through the SIGKILL, the moment it returns.
 * stdout carries only `READY`.
 */
import { openSync, writeSync } from "node:fs";
import { openSpool } from "@spool/actors";
import { fileAdapter } from "@spool/adapters";

const dir = process.argv[2];
const round = process.argv[3] ?? "0";
const promisesFile = process.argv[4];
if (dir === undefined || promisesFile === undefined) {
  throw new Error("usage: worker.ts DIR ROUND PROMISES_FILE");
}
const promises = openSync(promisesFile, "a");
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
const say = (line: string) => {
  const bytes = Buffer.from(`${line}\n`);
  // A regular file takes the whole line (short writes happen only on a full disk: go on then).
  for (let at = 0; at < bytes.byteLength; ) at += writeSync(promises, bytes, at);
};
writeSync(1, "READY\n");

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

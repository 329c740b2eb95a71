/**
 * The worker thread of the `slow-writer` bench: connects a writer over its port and appends a
 * trickle until told to block; then sends one append and, once it is on the port, blocks its
 * own event loop for `blockMs` (a busy loop, as a thread stuck in synchronous work would), so
 * the spool's write confirmation for that append waits unread. After the block it appends a
 * little more, so its return to timely is measured too, and reports how its appends went.
 */
import { parentPort, workerData } from "node:worker_threads";
import { connectWriter } from "@spool/actors";

const { port, blockMs, control } = workerData as {
  port: import("node:worker_threads").MessagePort;
  blockMs: number;
  /**
   * The peer run: the thread blocks just the same (burning the same core), but with no append
   * of its own in flight, so no write confirmation waits for it.
   */
  control: boolean;
};
// Appends after the block: enough to see the writer confirm in time again.
const APPENDS_AFTER_BLOCK = 50;

const writer = await connectWriter(port);
let stop = false;
let appended = 0;
const trickle = (async () => {
  while (!stop) {
    await writer.append(`trickle-${appended}`);
    appended += 1;
  }
})();
parentPort!.postMessage({ ready: true });
await new Promise((resolve) => parentPort!.once("message", resolve));
stop = true;
await trickle;
const inFlight = control
  ? Promise.resolve()
  : writer.append("the append whose confirmation waits out the block");
// A macrotask later the request has left this thread (the writer sends per microtask).
await new Promise((resolve) => setImmediate(resolve));
const end = Date.now() + blockMs;
while (Date.now() < end) {
  // Blocked: nothing else runs in this thread.
}
parentPort!.postMessage({ unblockedAt: Date.now() });
await inFlight;
for (let n = 0; n < APPENDS_AFTER_BLOCK; n++) await writer.append(`after-${n}`);
parentPort!.postMessage({
  done: true,
  appended: appended + (control ? 0 : 1) + APPENDS_AFTER_BLOCK,
});
writer.close();

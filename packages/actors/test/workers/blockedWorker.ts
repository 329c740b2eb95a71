/**
 * A worker thread for the slow-writer tests: connects a writer over its port, sends one append
 * and, once the request has left the thread, blocks its own event loop on `gate` (Atomics.wait)
 * until the test opens it. The spool's write confirmation for that append waits unread, as it
 * would behind any synchronous work. Then it appends once more and reports both acknowledgements.
 */
import { parentPort, workerData } from "node:worker_threads";
import { connectWriter } from "../../src/transports/WriterPort.js";

const { port, gate } = workerData as {
  port: import("node:worker_threads").MessagePort;
  gate: SharedArrayBuffer;
};
const writer = await connectWriter(port);
const before = writer.append("before the block");
// A macrotask later the request is on the port (the writer sends once per microtask).
await new Promise((resolve) => setImmediate(resolve));
parentPort!.postMessage({ blocking: true });
// Blocked until the test stores 1 and notifies: no message of this thread's port is read.
Atomics.wait(new Int32Array(gate), 0, 0);
const first = await before;
const second = await writer.append("after the block");
parentPort!.postMessage({
  acked: [
    [first.seq, "before the block"],
    [second.seq, "after the block"],
  ],
});
writer.close();

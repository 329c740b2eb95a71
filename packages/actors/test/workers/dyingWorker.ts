/**
 * A worker thread for the shared-memory writer tests: appends `acked` small records (posting
 * `[seq, payload]` for each once acknowledged), then appends one record larger than its request
 * ring and dies while the ring holds only part of it: holding claim 34's lock, mid-group. It
 * posts what it saw of the lock first, so the test knows the thread died holding it.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { SharedWriterMemory } from "../../src/transports/WriterPort.js";
import { connectWriter } from "../../src/transports/WriterPort.js";

const { port, acked, bigByteSize } = workerData as {
  port: import("node:worker_threads").MessagePort;
  acked: number;
  bigByteSize: number;
};
// The hello lends this thread the lock: seen here beside the writer that takes it.
let hello: { senderId: number; shared?: SharedWriterMemory } | undefined;
port.once("message", (message) => {
  hello = message;
});
const writer = await connectWriter(port);
for (let n = 0; n < acked; n++) {
  const payload = `kept-${n}`;
  const { seq } = await writer.append(payload);
  parentPort!.postMessage({ acked: [seq, payload] });
}
void writer.append(new Uint8Array(bigByteSize).fill(7)).catch(() => undefined);
// The group leaves at the next microtask: the lock is taken and the ring filled, synchronously.
await Promise.resolve();
await Promise.resolve();
const lockWord = Atomics.load(new Int32Array(hello!.shared!.lock), 0);
parentPort!.postMessage({ dying: { lockHolder: lockWord - 1, senderId: hello!.senderId } });
process.exit(0);

/**
 * A worker thread for the writer-port tests: connects a writer over the port it was given and
 * appends `count` records, `inFlight` at a time, posting `[seq, payload]` for each acknowledged
 * one as soon as it is acknowledged (so a test that kills the thread knows what was promised).
 */
import { parentPort, workerData } from "node:worker_threads";
import { connectWriter } from "../../src/transports/WriterPort.js";

const { port, count, tag, inFlight } = workerData as {
  port: import("node:worker_threads").MessagePort;
  count: number;
  tag: string;
  inFlight: number;
};
const writer = await connectWriter(port);
let next = 0;
const lane = async () => {
  while (next < count) {
    const n = next++;
    const payload = `${tag}-${n}`.padEnd(64 + (n % 200), ".");
    const { seq } = await writer.append(payload);
    parentPort!.postMessage({ acked: [seq, payload] });
  }
};
await Promise.all(Array.from({ length: inFlight }, lane));
parentPort!.postMessage({ done: true });
writer.close();

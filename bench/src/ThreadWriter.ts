/**
 * A worker thread of the `spool-threads` bench case: connects a writer over its port and keeps
 * `writers` appends in flight until `stopAt`; counts appends and records their latencies from
 * `warmUntil`, and posts them back at the end (latencies as a transferred Float64Array).
 */
import { parentPort, workerData } from "node:worker_threads";
import { connectWriter } from "@spool/actors";

const { port, writers, payloadByteSize } = workerData as {
  port: import("node:worker_threads").MessagePort;
  writers: number;
  payloadByteSize: number;
};
const writer = await connectWriter(port);
// Every thread starts together: ready, then the window (wall-clock ms) from the main thread.
parentPort!.postMessage({ ready: true });
const { warmUntil, stopAt } = await new Promise<{ warmUntil: number; stopAt: number }>((resolve) =>
  parentPort!.once("message", resolve),
);
const payload = new Uint8Array(payloadByteSize).fill(42);
let latencies = new Float64Array(1 << 16);
let count = 0;
// Wall-clock times: performance.now() has a different origin in every thread.
const lane = async () => {
  for (;;) {
    const started = Date.now();
    if (started >= stopAt) return;
    const t0 = performance.now();
    await writer.append(payload);
    if (started >= warmUntil) {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = performance.now() - t0;
    }
  }
};
await Promise.all(Array.from({ length: writers }, lane));
const measured = latencies.slice(0, count);
parentPort!.postMessage({ count, latencies: measured }, [measured.buffer]);
writer.close();

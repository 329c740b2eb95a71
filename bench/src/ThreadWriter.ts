/**
 * A worker thread of the `spool-threads` bench case: connects a writer over its port and keeps
 * `writers` appends in flight until `stopAt`; counts appends and records their latencies from
 * `warmUntil`, and posts them back at the end (latencies as a transferred Float64Array).
 */
import { parentPort, workerData } from "node:worker_threads";
import { connectWriter } from "@spool/actors";
import { type LaneWindow, runLanes } from "./Lanes.js";

const { port, writers, payloadByteSize } = workerData as {
  port: import("node:worker_threads").MessagePort;
  writers: number;
  payloadByteSize: number;
};
const writer = await connectWriter(port);
// Every thread starts together: ready, then the window (wall-clock ms) from the main thread.
parentPort!.postMessage({ ready: true });
const window = await new Promise<LaneWindow>((resolve) => parentPort!.once("message", resolve));
const payload = new Uint8Array(payloadByteSize).fill(42);
const { count, latencies } = await runLanes(() => writer.append(payload), writers, window);
parentPort!.postMessage({ count, latencies }, [latencies.buffer as ArrayBuffer]);
writer.close();

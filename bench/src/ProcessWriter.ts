/**
 * A writer process of the `spool-processes-4` bench case: connects over the spool's socket
 * (argv[2]) and keeps argv[3] appends of argv[4] bytes in flight until `stopAt`. Speaks JSON
 * lines: prints `{ready}`, reads `{warmUntil, stopAt}` (wall-clock ms), prints `{count,
 * latencies}` (latencies as base64 of a Float64Array of ms) at the end.
 */
import { writeSync } from "node:fs";
import { createInterface } from "node:readline";
import { connectSocketWriter } from "@spool/actors";
import { type LaneWindow, runLanes } from "./Lanes.js";

const [socketPath, writersText, sizeText] = process.argv.slice(2);
const writer = await connectSocketWriter(socketPath!);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
writeSync(1, `${JSON.stringify({ ready: true })}\n`);
const window = JSON.parse((await lines.next()).value as string) as LaneWindow;
const payload = new Uint8Array(Number(sizeText)).fill(42);
const { count, latencies } = await runLanes(
  () => writer.append(payload),
  Number(writersText),
  window,
);
const measured = Buffer.from(latencies.buffer, latencies.byteOffset, latencies.byteLength).toString(
  "base64",
);
// Through the stream, not writeSync: a pipe takes a long line in parts.
await new Promise((resolve) =>
  process.stdout.write(`${JSON.stringify({ count, latencies: measured })}\n`, resolve),
);
writer.close();
process.exit(0);

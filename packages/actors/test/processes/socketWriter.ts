/**
 * A writer process for the socket tests: connects to the spool's socket given as argv[2] and
 * appends argv[4] records tagged argv[3], argv[5] at a time. Prints one JSON line per event,
 * synchronously (so a test that kills this process knows what it was promised): `{acked: [seq,
 * payload]}` per acknowledged append, `{failed: tag, message}` per rejected one, `{done: true}`.
 */
import { writeSync } from "node:fs";
import { connectSocketWriter } from "../../src/transports/WriterSocket.js";

const [socketPath, tag, countText, inFlightText] = process.argv.slice(2);
const count = Number(countText);
// A pipe the test has not drained yet (a loaded machine) refuses a write with EAGAIN: wait for
// room a millisecond at a time rather than die, so every line is written, and written before
// the next append is made.
const PAUSE = new Int32Array(new SharedArrayBuffer(4));
const say = (line: object) => {
  const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
  for (let at = 0; at < bytes.byteLength; ) {
    try {
      at += writeSync(1, bytes, at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      Atomics.wait(PAUSE, 0, 0, 1);
    }
  }
};

let writer: Awaited<ReturnType<typeof connectSocketWriter>>;
try {
  writer = await connectSocketWriter(socketPath!);
} catch (error) {
  const { _tag, message } = error as { _tag?: string; message: string };
  say({ failed: _tag ?? "Error", message });
  process.exit(3);
}
say({ connected: true });
let next = 0;
let failures = 0;
const lane = async () => {
  while (next < count && failures === 0) {
    const n = next++;
    const payload = `${tag}-${n}`.padEnd(64 + (n % 200), ".");
    try {
      const { seq } = await writer.append(payload);
      say({ acked: [seq, payload] });
    } catch (error) {
      failures += 1;
      const { _tag, message } = error as { _tag?: string; message: string };
      say({ failed: _tag ?? "Error", message });
    }
  }
};
await Promise.all(Array.from({ length: Number(inFlightText) }, lane));
say({ done: true });
writer.close();

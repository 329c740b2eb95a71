/**
 * Issue 17, finding 10: what one blocked writer thread costs the others. A worker thread's
 * event loop is blocked for `BLOCK_MS` (3 s) right after it sent an append, so the spool's
 * write confirmation to it waits unread, while `WRITERS` appenders in the spool's own thread
 * append continuously. Reports the main thread's append latency (p50, p99, max) over the
 * appends issued during the block, and the synchronizer's confirmation counters.
 *
 * Run: `npm run slow-writer -w @spool/bench` (from source; `ADAPTER=memory` keeps the disk
 * out of the figure, `file` (the default) flushes to a temporary directory).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { openSpool } from "@spool/actors";
import { memoryAdapter } from "@spool/adapters";

// The block the issue measured: 3 s, under the default 5 s confirmTimeoutMs.
const BLOCK_MS = Number(process.env.BLOCK_MS ?? 3000);
// "A handful" of appenders in the main thread, each one append in flight at a time.
const WRITERS = Number(process.env.WRITERS ?? 4);
const ADAPTER = process.env.ADAPTER ?? "file";
// The peer, measured in the same run: the worker blocks its loop just the same but has no
// append in flight, so the figure shows what the disk, the machine and a core burnt by the
// busy loop cost, without a write confirmation waiting for the blocked thread.
const MODES = ["control", "blocked"] as const;

const boot = new URL("./boot.mjs", import.meta.url);
const entry = new URL("./BlockedWriter.ts", import.meta.url).href;

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  // Nearest rank, rounded up: p99 of 100 samples is the 99th.
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

async function run(mode: (typeof MODES)[number]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "spool-slow-writer-"));
  const spool = await openSpool(ADAPTER === "memory" ? { dir, adapter: memoryAdapter() } : { dir });
  const port = spool.port();
  const worker = new Worker(boot, {
    execArgv: ["--conditions=spool-source"],
    workerData: { entry, port, blockMs: BLOCK_MS, control: mode === "control" },
    transferList: [port],
  });
  const messages: Record<string, unknown>[] = [];
  let notify: () => void = () => {};
  worker.on("message", (message: Record<string, unknown>) => {
    messages.push(message);
    notify();
  });
  worker.on("error", (error) => {
    console.error(error);
    process.exit(1);
  });
  const seen = async (key: string) => {
    while (!messages.some((message) => key in message)) {
      await new Promise<void>((resolve) => {
        notify = resolve;
      });
    }
    return messages.find((message) => key in message)!;
  };
  await seen("ready");
  const latencies: number[] = [];
  let blocking = false;
  let running = true;
  const lane = async (n: number) => {
    const writer = spool.writer();
    for (let i = 0; running; i++) {
      const duringBlock = blocking;
      const t0 = performance.now();
      await writer.append(`main-${n}-${i}`);
      if (duringBlock) latencies.push(performance.now() - t0);
      // A turn of the event loop between appends: over the memory adapter an append settles
      // within microtasks, and a loop of them would starve the timers that end the run.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const lanes = Array.from({ length: WRITERS }, (_, n) => lane(n));
  // Warm up, then block the worker.
  await new Promise((resolve) => setTimeout(resolve, 500));
  blocking = true;
  worker.postMessage({ block: true });
  await seen("unblockedAt");
  blocking = false;
  await seen("done");
  running = false;
  await Promise.all(lanes);
  await worker.terminate();
  const stats = spool.stats();
  await spool.close();
  await rm(dir, { recursive: true, force: true });
  const sorted = Float64Array.from(latencies).sort();
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  console.log(
    `slow-writer ${mode} (${ADAPTER}, ${WRITERS} main-thread writers, worker blocked ` +
      `${BLOCK_MS} ms${mode === "control" ? " with no append in flight" : ""}): ` +
      `${sorted.length} main appends during the block, p50 ${ms(percentile(sorted, 0.5))}, ` +
      `p99 ${ms(percentile(sorted, 0.99))}, max ${ms(sorted.at(-1) ?? Number.NaN)}`,
  );
  // Read by name: run against code older than slow writers, the last two print undefined.
  const { confirmationsFailed, confirmationsLate, writersMarkedSlow } = stats;

  console.log(
    `  confirmations failed ${confirmationsFailed}, late ${confirmationsLate}, ` +
      `writers marked slow ${writersMarkedSlow}`,
  );
}

for (const mode of MODES) await run(mode);

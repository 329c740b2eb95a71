import { Worker } from "node:worker_threads";
import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { describe, expect, it } from "vitest";
import { openSpool, type Spool } from "../src/index.js";

const boot = new URL("./workers/boot.mjs", import.meta.url);
const entry = new URL("./workers/appendWorker.ts", import.meta.url).href;
const dyingEntry = new URL("./workers/dyingWorker.ts", import.meta.url).href;

interface Run {
  readonly worker: Worker;
  readonly acked: Map<number, string>;
  readonly done: Promise<void>;
}

/** Starts a worker appending through a port of `spool`, collecting what it was promised. */
function startWorker(
  spool: Spool,
  tag: string,
  count: number,
  inFlight = 8,
  sharedMemory = true,
): Run {
  const port = spool.port({ sharedMemory });
  const worker = new Worker(boot, {
    execArgv: ["--conditions=spool-source"],
    workerData: { entry, port, count, tag, inFlight },
    transferList: [port],
  });
  const acked = new Map<number, string>();
  const done = new Promise<void>((resolve, reject) => {
    worker.on("message", (message: { acked?: [number, string]; done?: boolean }) => {
      if (message.acked) acked.set(message.acked[0], message.acked[1]);
      if (message.done) resolve();
    });
    worker.on("error", reject);
    worker.on("exit", () => resolve());
  });
  return { worker, acked, done };
}

async function recordsOf(disk: MemoryDisk): Promise<Map<number, string>> {
  const spool = await openSpool({ dir: "/threads", adapter: memoryAdapter(disk) });
  const found = new Map<number, string>();
  for await (const record of spool.records()) {
    found.set(record.seq, new TextDecoder().decode(record.payload));
  }
  await spool.close();
  return found;
}

/** Four worker threads and the spool's own thread append 300 each; all acknowledged is kept. */
async function fourThreadsAndTheSpoolsOwn(sharedMemory: boolean): Promise<void> {
  const disk = new MemoryDisk();
  const spool = await openSpool({ dir: "/threads", adapter: memoryAdapter(disk) });
  const runs = ["a", "b", "c", "d"].map((tag) => startWorker(spool, tag, 300, 8, sharedMemory));
  const local = spool.writer();
  const localAcked = new Map<number, string>();
  await Promise.all(
    Array.from({ length: 300 }, async (_, n) => {
      const { seq } = await local.append(`main-${n}`);
      localAcked.set(seq, `main-${n}`);
    }),
  );
  await Promise.all(runs.map((run) => run.done));
  await Promise.all(runs.map((run) => run.worker.terminate()));
  await spool.close();
  const promised = new Map([...localAcked, ...runs.flatMap((run) => [...run.acked])]);
  expect(promised.size).toBe(5 * 300);
  const found = await recordsOf(disk);
  for (const [seq, payload] of promised) expect(found.get(seq)).toBe(payload);
}

describe("writers in worker threads (claim 34 across threads)", () => {
  it("four worker threads and the spool's own thread append through one synchronizer, and every acknowledged append is kept", async () => {
    await fourThreadsAndTheSpoolsOwn(true);
  }, 60_000);

  it("the same over port messages (sharedMemory: false): every acknowledged append is kept", async () => {
    await fourThreadsAndTheSpoolsOwn(false);
  }, 60_000);

  it("a thread killed mid-stream costs the others nothing, and what it was promised is kept", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({ dir: "/threads", adapter: memoryAdapter(disk) });
    const doomed = startWorker(spool, "doomed", 100_000, 32);
    const survivor = startWorker(spool, "survivor", 2000);
    while (doomed.acked.size < 200) await new Promise((resolve) => setTimeout(resolve, 5));
    await doomed.worker.terminate();
    await survivor.done;
    await survivor.worker.terminate();
    // The spool still takes writes from its own thread after the thread died mid-batch.
    const after = await spool.writer().append("after the kill");
    await spool.close();
    expect(survivor.acked.size).toBe(2000);
    const found = await recordsOf(disk);
    for (const [seq, payload] of [...doomed.acked, ...survivor.acked]) {
      expect(found.get(seq)).toBe(payload);
    }
    expect(found.get(after.seq)).toBe("after the kill");
  }, 60_000);

  it("a thread that dies holding the lock mid-group frees it: what it was promised is kept, its unfinished group is never written, and the others go on", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({ dir: "/threads", adapter: memoryAdapter(disk) });
    const port = spool.port();
    // Larger than the thread's 4 MiB request ring: it dies with part of it in the ring.
    const bigByteSize = 6 * 1024 * 1024;
    const worker = new Worker(boot, {
      execArgv: ["--conditions=spool-source"],
      workerData: { entry: dyingEntry, port, acked: 20, bigByteSize },
      transferList: [port],
    });
    const acked = new Map<number, string>();
    let dying: { lockHolder: number; senderId: number } | undefined;
    worker.on("message", (message: { acked?: [number, string]; dying?: typeof dying }) => {
      if (message.acked) acked.set(message.acked[0], message.acked[1]);
      if (message.dying) dying = message.dying;
    });
    await new Promise((resolve) => worker.once("exit", resolve));
    expect(dying?.lockHolder).toBe(dying?.senderId);
    // The spool's own writers take the lock the dead thread held.
    const after = await spool.writer().append("after the death");
    await spool.close();
    const found = await recordsOf(disk);
    expect(acked.size).toBe(20);
    for (const [seq, payload] of acked) expect(found.get(seq)).toBe(payload);
    expect(found.get(after.seq)).toBe("after the death");
    expect(found.size).toBe(21);
  }, 60_000);
});

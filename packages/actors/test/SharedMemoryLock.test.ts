import { Worker } from "node:worker_threads";
import { writerId } from "@spool/core";
import { describe, expect, it } from "vitest";
import { SHARED_LOCK_BYTE_SIZE, SharedMemoryLock } from "../src/writers/SharedMemoryLock.js";

const boot = new URL("./workers/boot.mjs", import.meta.url);
const entry = new URL("./workers/lockWorker.ts", import.meta.url).href;

describe("SharedMemoryLock (claim 34 across threads)", () => {
  it("grants at once when free, makes a second writer wait for the release, and names the holder", async () => {
    const buffer = new SharedArrayBuffer(SHARED_LOCK_BYTE_SIZE);
    const one = new SharedMemoryLock(buffer);
    const other = new SharedMemoryLock(buffer);
    const order: string[] = [];
    one.acquire(writerId(0), () => order.push("0 granted"));
    other.acquire(writerId(7), () => order.push("7 granted"));
    expect(order).toEqual(["0 granted"]);
    expect(other.holder).toBe(0);
    one.release(writerId(0));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual(["0 granted", "7 granted"]);
    expect(one.holder).toBe(7);
  });

  it("refuses a release by a writer that does not hold it", () => {
    const lock = new SharedMemoryLock(new SharedArrayBuffer(SHARED_LOCK_BYTE_SIZE));
    lock.acquire(writerId(1), () => {});
    expect(() => lock.release(writerId(2))).toThrow(/does not hold/);
    expect(lock.releaseIfHeldBy(writerId(2))).toBe(false);
    expect(lock.releaseIfHeldBy(writerId(1))).toBe(true);
    expect(lock.holder).toBeNull();
  });

  it("keeps four worker threads out of each other's critical sections", async () => {
    const lockBuffer = new SharedArrayBuffer(SHARED_LOCK_BYTE_SIZE);
    const counterBuffer = new SharedArrayBuffer(12);
    const words = new Int32Array(counterBuffer);
    const rounds = 200;
    const workers = Array.from(
      { length: 4 },
      (_, index) =>
        new Worker(boot, {
          workerData: { entry, lockBuffer, counterBuffer, owner: index + 1, rounds },
        }),
    );
    const finished = Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            worker.on("message", () => resolve());
            worker.on("error", reject);
            worker.on("exit", (code) => reject(new Error(`worker exited (${code}) before done`)));
          }),
      ),
    );
    // All four start at once, so their critical sections would overlap without the lock.
    while (Atomics.load(words, 1) < workers.length) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    Atomics.store(words, 2, 1);
    Atomics.notify(words, 2);
    await finished;
    await Promise.all(workers.map((worker) => worker.terminate()));
    expect(words[0]).toBe(4 * rounds);
  });
});

/**
 * A worker thread for the shared lock test: takes the lock `rounds` times and, inside it,
 * does a read-modify-write of a shared counter across an await, so lost updates show if two
 * threads are ever inside at once. Word 0 of the counter buffer is the counter, word 1 counts
 * ready workers, word 2 is the start signal.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { WriterId } from "@spool/core";
import { SharedMemoryLock } from "../../src/writers/SharedMemoryLock.js";

const { lockBuffer, counterBuffer, owner, rounds } = workerData as {
  lockBuffer: SharedArrayBuffer;
  counterBuffer: SharedArrayBuffer;
  owner: number;
  rounds: number;
};
const lock = new SharedMemoryLock(lockBuffer);
const counter = new Int32Array(counterBuffer);
const me = owner as WriterId;
// Start together: report ready, then wait for the test's start signal (word 2).
Atomics.add(counter, 1, 1);
// A pending waitAsync does not keep the thread alive: a timer does, until the start.
const keepAlive = setTimeout(() => {}, 60_000);
while (Atomics.load(counter, 2) === 0) {
  const wait = Atomics.waitAsync(counter, 2, 0);
  if (wait.async) await wait.value;
}
clearTimeout(keepAlive);
for (let round = 0; round < rounds; round++) {
  await new Promise<void>((granted) => lock.acquire(me, granted));
  const before = counter[0]!;
  await new Promise((resolve) => setImmediate(resolve));
  counter[0] = before + 1;
  lock.release(me);
}
parentPort!.postMessage("done");

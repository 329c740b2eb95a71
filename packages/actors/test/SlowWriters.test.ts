import { Worker } from "node:worker_threads";
import { MemoryDisk, memoryAdapter } from "@spool/adapters";
import { type RequestId, writerId } from "@spool/core";
import { describe, expect, it, vi } from "vitest";
import { openSpool, type Spool, type WriterEndpoint } from "../src/index.js";
import {
  CONFIRM_DEADLINE_FLOOR_MS,
  ConfirmationLatencies,
} from "../src/internal/ConfirmDeadline.js";

// Far past any test's run: a batch that waited for a withheld confirmation until this timeout
// (as every batch did before slow writers were marked) would never let the test finish.
const CONFIRM_TIMEOUT_MS = 600_000;
// Main-thread appends that must resolve while the slow writer's confirmation is withheld.
const APPENDS_WHILE_WITHHELD = 20;

const boot = new URL("./workers/boot.mjs", import.meta.url);
const entry = new URL("./workers/blockedWorker.ts", import.meta.url).href;

async function recordsOf(disk: MemoryDisk): Promise<Map<number, string>> {
  const spool = await openSpool({ dir: "/slow", adapter: memoryAdapter(disk) });
  const found = new Map<number, string>();
  for await (const record of spool.records()) {
    found.set(record.seq, new TextDecoder().decode(record.payload));
  }
  await spool.close();
  return found;
}

/** Appends `count` records one after another from the spool's own thread. */
async function appendInTurn(spool: Spool, count: number): Promise<Map<number, string>> {
  const writer = spool.writer();
  const acked = new Map<number, string>();
  for (let n = 0; n < count; n++) {
    const { seq } = await writer.append(`main-${n}`);
    acked.set(seq, `main-${n}`);
  }
  return acked;
}

/** A writer registered as a remote one would be, whose confirmation the test releases. */
function withheldWriter(spool: Spool) {
  const held: (() => void)[] = [];
  const endpoint: WriterEndpoint = {
    id: writerId(999),
    written: (_notice, confirm) => held.push(confirm),
    resend: () => {},
    failed: () => {},
  };
  spool.synchronizer.register(endpoint);
  const request = {
    id: 1 as RequestId,
    writerId: writerId(999),
    senderId: writerId(999),
    payload: new TextEncoder().encode("withheld"),
    durability: "flushed" as const,
  };
  spool.synchronizer.send([request], () => {});
  return { held };
}

describe("a slow or blocked writer costs the others a bounded delay (issue 17, finding 10)", () => {
  it("appends from the spool's thread resolve while a worker thread's loop is blocked with its confirmation unread, and nothing is lost across reopen", async () => {
    const disk = new MemoryDisk();
    const spool = await openSpool({
      dir: "/slow",
      adapter: memoryAdapter(disk),
      confirmTimeoutMs: CONFIRM_TIMEOUT_MS,
    });
    const gate = new SharedArrayBuffer(4);
    const port = spool.port();
    const worker = new Worker(boot, {
      execArgv: ["--conditions=spool-source"],
      workerData: { entry, port, gate },
      transferList: [port],
    });
    const messages: { blocking?: boolean; acked?: [number, string][] }[] = [];
    worker.on("message", (message) => messages.push(message));
    const failed = new Promise((_, reject) => worker.on("error", reject));
    failed.catch(() => {});
    await vi.waitFor(() => expect(messages.some((m) => m.blocking)).toBe(true), {
      timeout: 30_000,
    });
    // The worker's record is written and its write confirmation sent: it waits unread.
    await vi.waitFor(() => expect(spool.stats().records).toBe(1), { timeout: 30_000 });
    const mainAcked = await appendInTurn(spool, APPENDS_WHILE_WITHHELD);
    // Still blocked: its confirmation is owed, not received, and no batch waits for it.
    expect(spool.stats().slowWriters).toBe(1);
    expect(spool.stats().confirmationsOutstanding).toBe(1);
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    await vi.waitFor(() => expect(messages.some((m) => m.acked)).toBe(true), { timeout: 30_000 });
    await vi.waitFor(() => expect(spool.stats().confirmationsOutstanding).toBe(0), {
      timeout: 30_000,
    });
    expect(spool.stats().confirmationsLate).toBeGreaterThanOrEqual(1);
    expect(spool.stats().confirmationsFailed).toBe(0);
    await worker.terminate();
    await spool.close();
    const workerAcked = messages.find((m) => m.acked)!.acked!;
    const found = await recordsOf(disk);
    for (const [seq, payload] of [...mainAcked, ...workerAcked]) {
      expect(found.get(seq)).toBe(payload);
    }
  }, 60_000);

  it("a confirmation released after its batch cleared is counted once, however often it is sent", async () => {
    const spool = await openSpool({
      dir: "/slow",
      adapter: memoryAdapter(),
      confirmTimeoutMs: CONFIRM_TIMEOUT_MS,
    });
    const { held } = withheldWriter(spool);
    await appendInTurn(spool, APPENDS_WHILE_WITHHELD);
    expect(held).toHaveLength(1);
    expect(spool.stats().confirmationsOutstanding).toBe(1);
    held[0]!();
    held[0]!();
    expect(spool.stats().confirmationsLate).toBe(1);
    expect(spool.stats().confirmationsOutstanding).toBe(0);
    expect(spool.stats().slowWriters).toBe(0);
    // The spool goes on taking appends: the late confirmation was no error.
    await appendInTurn(spool, 1);
    expect(spool.stats().confirmationsFailed).toBe(0);
    await spool.close();
  });

  it("a batch whose only writer is marked slow clears without waiting for it", async () => {
    const spool = await openSpool({
      dir: "/slow",
      adapter: memoryAdapter(),
      confirmTimeoutMs: CONFIRM_TIMEOUT_MS,
    });
    const { held } = withheldWriter(spool);
    await appendInTurn(spool, 1);
    expect(spool.stats().slowWriters).toBe(1);
    // A second request from the slow writer alone: its batch waits for nobody.
    spool.synchronizer.send(
      [
        {
          id: 2 as RequestId,
          writerId: writerId(999),
          senderId: writerId(999),
          payload: new TextEncoder().encode("second"),
          durability: "flushed",
        },
      ],
      () => {},
    );
    await vi.waitFor(() => expect(held).toHaveLength(2), { timeout: 30_000 });
    await appendInTurn(spool, 1);
    expect(spool.stats().confirmationsOutstanding).toBe(2);
    for (const confirm of held) confirm();
    expect(spool.stats().confirmationsLate).toBe(2);
    expect(spool.stats().slowWriters).toBe(0);
    await spool.close();
  });
});

describe("the confirmation deadline", () => {
  it("is the floor while confirmations are fast", () => {
    const latencies = new ConfirmationLatencies();
    for (let n = 0; n < 300; n++) latencies.record(0.1);
    expect(latencies.deadlineMs(5000)).toBe(CONFIRM_DEADLINE_FLOOR_MS);
  });

  it("grows with the confirmations' 99th percentile", () => {
    const latencies = new ConfirmationLatencies();
    for (let n = 0; n < 300; n++) latencies.record(n % 100 === 0 ? 1 : 50);
    expect(latencies.deadlineMs(5000)).toBe(200);
  });

  it("is not armed once it would reach confirmTimeoutMs", () => {
    const latencies = new ConfirmationLatencies();
    for (let n = 0; n < 300; n++) latencies.record(2000);
    expect(latencies.deadlineMs(5000)).toBeNull();
  });
});

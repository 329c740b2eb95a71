import { memoryAdapter } from "@spool/adapters";
import {
  byteOffset,
  type FlushAdapter,
  FlushFailed,
  type FlushMode,
  type Region,
  type RequestId,
  resolveConfig,
  segmentNumber,
  seq,
  type WriterId,
  writerId,
} from "@spool/core";
import { describe, expect, it, vi } from "vitest";
import {
  CONFIRM_DEADLINE_FLOOR_MS,
  ConfirmationLatencies,
} from "../src/internal/ConfirmDeadline.js";
import {
  Synchronizer,
  type SynchronizerTimers,
  type TimerPurpose,
} from "../src/synchronizer/Synchronizer.js";

const CONFIRM_TIMEOUT_MS = 5000;
const PIPELINE_SPLIT_BYTE_SIZE = 200;
// A writer thread on a loaded machine that routinely confirms later than the deadline's floor.
const ROUTINE_LATENCY_MS = 30;
// The deadline is four times the 99th percentile of the confirmations seen (ConfirmDeadline.ts).
const DEADLINE_MULTIPLE = 4;
// That percentile over a window of 256 is the third-highest: three slow ones make it move.
const ROUTINE_SLOW_CONFIRMATIONS = 3;

interface ArmedTimer {
  readonly ms: number;
  readonly fire: () => void;
  readonly purpose: TimerPurpose | undefined;
  cancelled: boolean;
}

/**
 * A synchronizer on a scripted clock and scripted timers, with one writer registered as a
 * remote one would be: it confirms only when the test says so.
 */
async function scriptedRig(
  options: { readonly holdFlushes?: boolean; readonly pipelined?: boolean } = {},
) {
  let nowMs = 0;
  const armed: ArmedTimer[] = [];
  const timers: SynchronizerTimers = {
    after(ms, fire, purpose) {
      const timer: ArmedTimer = { ms, fire, purpose, cancelled: false };
      armed.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
  };
  // Pipelined, two records of 144 bytes make a batch worth writing beside one that flushes;
  // else every batch goes to the disk whole, one at a time.
  const config = resolveConfig({
    confirmTimeoutMs: CONFIRM_TIMEOUT_MS,
    pipelineSplitByteSize: options.pipelined === true ? PIPELINE_SPLIT_BYTE_SIZE : null,
  });
  const base = await memoryAdapter()({
    dir: "/deadline",
    segmentByteSize: config.segmentByteSize,
    pageByteSize: config.pageByteSize,
  });
  const flushes: HeldFlush[] = [];
  const adapter = options.holdFlushes === true ? holdingFlushes(base, flushes) : base;
  const synchronizer = new Synchronizer({
    dir: "/deadline",
    config,
    adapter,
    cursor: { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) },
    clock: () => nowMs,
    timers,
  });
  const remote: WriterId = writerId(7);
  const held: (() => void)[] = [];
  synchronizer.register({
    id: remote,
    written: (_notice, confirm) => held.push(confirm),
    resend: () => {},
    failed: () => {},
  });
  let nextId = 1;
  /** Sends one request from the remote writer; resolves once its write confirmation came. */
  const append = async (): Promise<() => void> => {
    const before = held.length;
    const request = {
      id: nextId as RequestId,
      writerId: remote,
      senderId: remote,
      payload: new TextEncoder().encode(`record-${nextId}`),
      durability: "flushed" as const,
    };
    nextId += 1;
    synchronizer.send([request], () => {});
    await vi.waitFor(() => expect(held.length).toBe(before + 1));
    return held[before]!;
  };
  const live = (kind: TimerPurpose["kind"]) =>
    armed.findLast((timer) => !timer.cancelled && timer.purpose?.kind === kind);
  const advance = (ms: number) => {
    nowMs += ms;
  };
  // A writer in the synchronizer's own thread: it confirms during the call.
  const local: WriterId = writerId(8);
  let localWritten = 0;
  synchronizer.register({
    id: local,
    written: (_notice, confirm) => {
      localWritten += 1;
      confirm();
    },
    resend: () => {},
    failed: () => {},
  });
  /** Sends `count` requests from the remote (or the local) writer at once. */
  const send = (count: number, from: WriterId = remote): void => {
    const requests = Array.from({ length: count }, () => {
      const id = nextId;
      nextId += 1;
      return {
        id: id as RequestId,
        writerId: from,
        senderId: from,
        payload: new Uint8Array(100),
        durability: "flushed" as const,
      };
    });
    synchronizer.send(requests, () => {});
  };
  const written = () => localWritten;
  return { synchronizer, append, send, held, flushes, live, advance, local, written };
}

interface HeldFlush {
  readonly go: () => void;
  readonly fail: (error: unknown) => void;
}

/** The adapter with each flush held until the test lets it go or fails it. */
function holdingFlushes(base: FlushAdapter, flushes: HeldFlush[]): FlushAdapter {
  return new Proxy(base, {
    get(target, property) {
      if (property === "flush") {
        return (region: Region, mode: FlushMode) =>
          new Promise<void>((resolve, reject) => {
            flushes.push({
              go: () => target.flush(region, mode).then(resolve, reject),
              fail: reject,
            });
          });
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("the confirmation deadline at run time, on scripted timers (issue 17, finding 10)", () => {
  it("marks a writer that misses its deadline slow and clears the batch without it", async () => {
    const { synchronizer, append, live, advance } = await scriptedRig();
    const confirm = await append();
    const deadline = live("confirmDeadline")!;
    expect(deadline.ms).toBe(CONFIRM_DEADLINE_FLOOR_MS);
    advance(deadline.ms);
    deadline.cancelled = true;
    deadline.fire();
    await vi.waitFor(() => expect(synchronizer.state()).toBe("receiving"));
    expect(synchronizer.stats().writersMarkedSlow).toBe(1);
    expect(live("confirmLapse")?.ms).toBe(CONFIRM_TIMEOUT_MS - CONFIRM_DEADLINE_FLOOR_MS);
    confirm();
    expect(synchronizer.stats().confirmationsLate).toBe(1);
    expect(live("confirmLapse")).toBeUndefined();
    await synchronizer.close();
  });

  it("learns from late confirmations: a writer that routinely answers past the floor moves the deadline up", async () => {
    const { synchronizer, append, live, advance } = await scriptedRig();
    // Three batches (enough to be routine, not one pause) whose confirmation comes 30 ms after
    // its write confirmation left: each misses the 20 ms deadline, and is counted late.
    for (let late = 1; late <= ROUTINE_SLOW_CONFIRMATIONS; late++) {
      const confirm = await append();
      const deadline = live("confirmDeadline")!;
      expect(deadline.ms).toBe(CONFIRM_DEADLINE_FLOOR_MS);
      advance(deadline.ms);
      deadline.cancelled = true;
      deadline.fire();
      await vi.waitFor(() => expect(synchronizer.stats().writersMarkedSlow).toBe(late));
      advance(ROUTINE_LATENCY_MS - deadline.ms);
      confirm();
      expect(synchronizer.stats().confirmationsLate).toBe(late);
    }
    // Timely again, the writer's next batch waits for it, under a deadline that learned.
    const next = await append();
    expect(live("confirmDeadline")?.ms).toBe(ROUTINE_LATENCY_MS * DEADLINE_MULTIPLE);
    next();
    await vi.waitFor(() => expect(synchronizer.state()).toBe("receiving"));
    await synchronizer.close();
  });

  it("once its writer is marked slow, the others' batches arm no deadline and wait for nobody", async () => {
    const { synchronizer, send, held, live, local, written } = await scriptedRig();
    send(1);
    await vi.waitFor(() => expect(held).toHaveLength(1));
    // The spool's own writer appends while the batch awaits the remote one: parked.
    send(1, local);
    const deadline = live("confirmDeadline")!;
    expect(written()).toBe(0);
    deadline.cancelled = true;
    deadline.fire();
    // The batch cleared at its deadline; the parked append went out and was answered.
    await vi.waitFor(() => expect(written()).toBe(1));
    // Both writers in one batch: the slow one is not waited for, so no timer is armed.
    const flushes = synchronizer.stats().flushes;
    send(1);
    send(1, local);
    await vi.waitFor(() => expect(held).toHaveLength(2));
    await vi.waitFor(() => expect(written()).toBe(2));
    await vi.waitFor(() => expect(synchronizer.state()).toBe("receiving"));
    expect(synchronizer.stats().flushes).toBe(flushes + 1);
    expect(live("confirmDeadline")).toBeUndefined();
    expect(live("confirmTimeout")).toBeUndefined();
    expect(synchronizer.slowWriters()).toEqual([{ writerId: writerId(7), outstanding: 2 }]);
    for (const confirm of held) confirm();
    expect(synchronizer.slowWriters()).toEqual([]);
    expect(synchronizer.stats().confirmationsLate).toBe(2);
    await synchronizer.close();
  });

  it("a deadline that fires after the spool broke owes nothing, so the late confirmation leaves it broken, not failed", async () => {
    const { synchronizer, send, held, flushes, live } = await scriptedRig({
      holdFlushes: true,
      pipelined: true,
    });
    send(1);
    await vi.waitFor(() => expect(flushes).toHaveLength(1));
    // Gathered while the first flushes, and written beside it.
    send(2);
    await vi.waitFor(() => expect(flushes).toHaveLength(2));
    flushes[0]!.go();
    await vi.waitFor(() => expect(held).toHaveLength(1));
    const deadline = live("confirmDeadline")!;
    // The batch written beside it fails while the first awaits its writer's confirmation.
    flushes[1]!.fail(
      new FlushFailed({ file: "f", offset: 0, byteSize: 1, code: "EIO", cause: undefined }),
    );
    await vi.waitFor(() => expect(synchronizer.state()).toBe("broken"));
    // Its cancel came too late (or none came): it fires in the broken spool.
    deadline.fire();
    held[0]!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(synchronizer.failure()).toBeUndefined();
    expect(synchronizer.state()).toBe("broken");
    expect(synchronizer.slowWriters()).toEqual([]);
    await synchronizer.close();
  });
});

describe("the confirmation deadline", () => {
  it("rises above the floor when confirmations routinely take longer than a quarter of it", () => {
    const latencies = new ConfirmationLatencies();
    for (let n = 0; n < 300; n++) latencies.record(ROUTINE_LATENCY_MS);
    expect(latencies.deadlineMs(CONFIRM_TIMEOUT_MS)).toBe(ROUTINE_LATENCY_MS * DEADLINE_MULTIPLE);
  });

  it("is not moved by two confirmations held up by a blocked loop among 256", () => {
    const latencies = new ConfirmationLatencies();
    for (let n = 0; n < 254; n++) latencies.record(0.1);
    latencies.record(3000);
    latencies.record(CONFIRM_TIMEOUT_MS);
    expect(latencies.deadlineMs(CONFIRM_TIMEOUT_MS)).toBe(CONFIRM_DEADLINE_FLOOR_MS);
  });

  it("is not moved by one pause while the window is young", () => {
    const latencies = new ConfirmationLatencies();
    for (let n = 0; n < 10; n++) latencies.record(0.1);
    latencies.record(100);
    expect(latencies.deadlineMs(CONFIRM_TIMEOUT_MS)).toBe(CONFIRM_DEADLINE_FLOOR_MS);
  });

  it("falls back to the floor once the slow confirmations left the window", () => {
    const latencies = new ConfirmationLatencies();
    for (let n = 0; n < 300; n++) latencies.record(ROUTINE_LATENCY_MS);
    // A window of 256, and up to 32 more before the percentile is computed again.
    for (let n = 0; n < 256 + 32; n++) latencies.record(0.1);
    expect(latencies.deadlineMs(CONFIRM_TIMEOUT_MS)).toBe(CONFIRM_DEADLINE_FLOOR_MS);
  });
});

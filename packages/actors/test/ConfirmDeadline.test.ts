import { memoryAdapter } from "@spool/adapters";
import {
  byteOffset,
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
import { Synchronizer, type SynchronizerTimers, type TimerPurpose } from "../src/Synchronizer.js";

const CONFIRM_TIMEOUT_MS = 5000;
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
async function scriptedRig() {
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
  const config = resolveConfig({ confirmTimeoutMs: CONFIRM_TIMEOUT_MS });
  const adapter = await memoryAdapter()({
    dir: "/deadline",
    segmentByteSize: config.segmentByteSize,
    pageByteSize: config.pageByteSize,
  });
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
  return { synchronizer, append, live, advance };
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

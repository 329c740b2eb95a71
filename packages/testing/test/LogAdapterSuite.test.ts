import { type SynchronizerEvent, synchronizerMachine } from "@spool/actors";
import type { LogAdapter, LogAppended, WriteRequest } from "@spool/core";
import { describe, expect, it } from "vitest";
import { assign } from "xstate";
import {
  AdapterCheckFailed,
  type LogStore,
  logAdapterChecks,
  MemoryLog,
  PathFailed,
  runLogPath,
  transitionPaths,
} from "../src/index.js";

// The suite's own tests: logs (and a runtime) broken on purpose, each around the memory log,
// must fail the check that watches for that break, saying what broke.

/** A store over a memory log, whose adapter is `wrap` of it. */
function storeOf(wrap: (base: MemoryLog) => LogAdapter): () => Promise<LogStore> {
  return async () => {
    const base = new MemoryLog();
    return {
      log: wrap(base),
      read: async (at) => base.read(at),
      recordCount: async () => base.recordCount,
      refuseAppends: async () => base.refuse(),
      loseAcknowledgements: (count) => base.loseAcknowledgements(count),
      acknowledgementsLost: () => base.acknowledgementsLost,
    };
  };
}

/** A log adapter that delegates to `base`, with `append` replaced. */
function withAppend(
  base: MemoryLog,
  append: (requests: readonly WriteRequest[], sent: () => void) => Promise<LogAppended>,
): LogAdapter {
  return { kind: "log", name: `broken ${base.name}`, append, close: () => base.close() };
}

function runCheck(prefix: string, fresh: () => Promise<LogStore>): Promise<void> {
  const check = logAdapterChecks(fresh).find((candidate) => candidate.name.startsWith(prefix));
  if (check === undefined) throw new Error(`no check named ${prefix}...`);
  return check.run();
}

describe("the log conformance suite", () => {
  it("fails a log that stores a message again when its acknowledgement was lost", async () => {
    let toLose = 0;
    let lost = 0;
    // Resends as a new message (no message id): the log stores it twice.
    const fresh = async () => {
      const store = await storeOf((base) =>
        withAppend(base, async (requests, sent) => {
          for (; toLose > 0 && requests.length > 0; toLose -= 1, lost += 1) {
            await base.append(requests.slice(0, 1), () => undefined);
          }
          return base.append(requests, sent);
        }),
      )();
      return {
        ...store,
        loseAcknowledgements: (count: number) => {
          toLose += count;
        },
        acknowledgementsLost: () => lost,
      };
    };
    const run = runCheck("stores an append once", fresh);
    await expect(run).rejects.toThrow(/records stored for 40 appends/);
    await expect(run).rejects.toBeInstanceOf(AdapterCheckFailed);
  });

  it("fails a store that loses no acknowledgement when asked to", async () => {
    const fresh = async () => ({ ...(await storeOf((base) => base)()), loseAcknowledgements() {} });
    await expect(runCheck("stores an append once", fresh)).rejects.toThrow(/lost 0 of the 3/);
  });

  it("fails a log that changes the bytes it stores", async () => {
    const fresh = storeOf((base) =>
      withAppend(base, (requests, sent) =>
        base.append(
          requests.map((request) => ({ ...request, payload: request.payload.subarray(1) })),
          sent,
        ),
      ),
    );
    await expect(runCheck("confirms every append", fresh)).rejects.toThrow(/reads back changed/);
  });

  it("fails a log that refuses a batch with an untyped error", async () => {
    let refusing = false;
    const fresh = async () => {
      const store = await storeOf((base) =>
        withAppend(base, (requests, sent) =>
          refusing ? Promise.reject(new Error("full")) : base.append(requests, sent),
        ),
      )();
      const refuseAppends = async () => {
        refusing = true;
      };
      return { ...store, refuseAppends };
    };
    await expect(runCheck("fails the writers", fresh)).rejects.toThrow(/not a FlushFailed/);
  });

  it("fails a log that numbers a batch out of its order on a model path", async () => {
    // Stores the batch back to front, so each record still reads back by the seq it got.
    const fresh = storeOf((base) =>
      withAppend(base, async (requests, sent) => {
        const { seqs, replicas } = await base.append([...requests].reverse(), sent);
        return { seqs: [...seqs].reverse(), replicas };
      }),
    );
    // Without timed triggers, batches gather two requests (batchCountMax: 2).
    const failure = await firstFailure(transitionPaths("untimed", "log"), fresh);
    expect(failure).toBeInstanceOf(PathFailed);
    expect(String(failure)).toMatch(/numbered a batch out of its order/);
  });

  it("fails a runtime that confirms with its own numbering instead of the log's", async () => {
    // The machine's recordWritten with the log's answer dropped from the outcome: the batch
    // keeps the synchronizer's seqs. (xstate keeps an assign action's function as `assignment`.)
    const original = synchronizerMachine.implementations.actions.recordWritten as unknown as {
      assignment: (args: { event: SynchronizerEvent }) => object;
    };
    const machine = synchronizerMachine.provide({
      actions: {
        recordWritten: assign((args) => {
          if (args.event.type !== "disk.written") return {};
          const { level } = args.event.outcome;
          return original.assignment({ ...args, event: { ...args.event, outcome: { level } } });
        }),
      },
    });
    const fresh = storeOf((base) => base);
    const failure = await firstFailure(transitionPaths("immediate", "log"), fresh, machine);
    expect(failure).toBeInstanceOf(PathFailed);
    expect(String(failure)).toMatch(/confirmed with seq \d+, the log gave it \d+/);
  });
});

/** Runs log paths until one fails; returns its error. */
async function firstFailure(
  paths: ReturnType<typeof transitionPaths>,
  fresh: () => Promise<LogStore>,
  machine: typeof synchronizerMachine = synchronizerMachine,
): Promise<unknown> {
  for (const path of paths) {
    try {
      await runLogPath(path, await fresh(), { machine });
    } catch (error) {
      return error;
    }
  }
  return undefined;
}

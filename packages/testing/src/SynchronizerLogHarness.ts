/**
 * Runs a model path over a log ({@link runLogPath}): the harness of SynchronizerHarness.ts with
 * a {@link GatedLog} in front of a real {@link LogAdapter}. The path's `disk.*` actions open or
 * fail the gates before the log (the append handed over) and before its acknowledgement (the
 * append's "flush"); the map, which a log does not have, resolves by itself in the runtime and
 * is an automatic action of the model (`isAutomatic`). Confirmed records are read back from the
 * log by the seq it gave them.
 */

import { synchronizerMachine } from "@spool/actors";
import {
  type LogAdapter,
  type RequestId,
  type Seq,
  seq,
  type WriteRequest,
  writerId,
} from "@spool/core";
import { GatedLog } from "./GatedLog.js";
import {
  type PathReport,
  type RunOptions,
  runOnStore,
  type StoreRig,
} from "./SynchronizerHarness.js";
import { modelConfig } from "./SynchronizerModelMachine.js";
import type { ModelPath } from "./SynchronizerPaths.js";
import type { ScriptedWriters } from "./SynchronizerRig.js";

/**
 * A fresh log for one path: a {@link LogAdapter} over an empty log, and how to read a record
 * back by the seq the log gave it.
 */
export interface FreshLog {
  readonly log: LogAdapter;
  /** The bytes the log holds under `seq`, or undefined when it holds none there. */
  readonly read: (seq: Seq) => Promise<Uint8Array | undefined>;
  /** Removes what the path left; called after it ran and the log closed. */
  readonly remove?: () => Promise<void>;
}

/** Reads every confirmed request back from the log by its seq: each seq once, bytes intact. */
async function readBackFromLog(store: FreshLog, writers: ScriptedWriters): Promise<number> {
  const owners = new Map<number, RequestId>();
  for (const [id, answer] of writers.answers) {
    if (answer.kind !== "written") continue;
    const at = answer.seq!;
    const owner = owners.get(at);
    if (owner !== undefined) throw new Error(`requests ${owner} and ${id} confirmed as seq ${at}`);
    owners.set(at, id);
    const bytes = await store.read(seq(at));
    if (bytes === undefined) throw new Error(`request ${id} is not in the log at seq ${at}`);
    const payload = writers.sent.get(id)!.payload;
    if (!Buffer.from(bytes).equals(payload)) throw new Error(`request ${id} changed`);
  }
  return owners.size;
}

/** Records the log holds before a path runs: its seqs then run ahead of the machine's own. */
const RECORDS_BEFORE_PATH = 3;

/**
 * Runs one model path over a log through the real runtime and checks it. The log first takes
 * {@link RECORDS_BEFORE_PATH} records of its own, so a runtime that confirmed with its own
 * numbering instead of the log's fails.
 *
 * @example
 * const log = new MemoryLog();
 * const report = await runLogPath(path, { log, read: async (at) => log.read(at) });
 */
export async function runLogPath(
  path: ModelPath,
  store: FreshLog,
  options: RunOptions = {},
): Promise<PathReport> {
  if (path.store !== "log") throw new Error(`a ${path.store} path runs with runSynchronizerPath`);
  const gated = new GatedLog(store.log);
  try {
    const before: WriteRequest[] = Array.from({ length: RECORDS_BEFORE_PATH }, (_, at) => ({
      id: (1_000_000 + at) as RequestId,
      writerId: writerId(0),
      senderId: writerId(0),
      payload: new TextEncoder().encode(`before the path ${at}`),
      durability: "flushed",
      target: undefined,
    }));
    await store.log.append(before, () => undefined);
    const rig: StoreRig = {
      adapter: gated,
      gates: gated,
      rule: gated,
      readBack: (writers) => readBackFromLog(store, writers),
      violation: () => gated.violation,
    };
    const config = modelConfig(path.variant);
    return await runOnStore(path, config, rig, options.machine ?? synchronizerMachine);
  } finally {
    await gated.settled();
    await store.log.close();
    await store.remove?.();
  }
}

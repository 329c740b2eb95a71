/**
 * The conformance suite for logs: what any {@link LogAdapter} (a replicated log behind the
 * synchronizer, such as `@spool/jetstream`'s JetStreamLog) must do for Spool to keep its
 * promise. A log's author runs
 *
 *     testLogAdapter("my log", async () => ({ log, read, recordCount, ... }));
 *
 * in a vitest file, or runs {@link logAdapterChecks} in any other runner. The checks:
 *
 * - the synchronizer's model paths run through the log with the real runtime, a gate in front
 *   of each append and of its acknowledgement (GatedLog.ts), and the protocol's invariants
 *   checked at every step (SynchronizerHarness.ts): no write confirmation before the log
 *   acknowledged the write, and then with the seq and replicas the log gave it; a batch cleared
 *   only once its writers confirmed; parked requests start the next batch in order; one answer
 *   per request; every confirmed record reads back from the log by its seq, bytes intact;
 * - every append is confirmed with the seq the log returned for it (the log holds records of
 *   its own first, so its numbers run ahead of the synchronizer's) and reads back by that seq;
 * - an append whose acknowledgement was lost is sent again and stored once;
 * - a batch the log refuses fails its writers with the log's own typed error, and nothing
 *   confirmed before it is lost.
 *
 * What a log cannot take, and the suite does not pretend to check: the steps of the
 * synchronizer's flowchart that wait on a map ({@link STEPS_NOT_ON_A_LOG}; a log has no region
 * to map, and the runtime's `LogWriter.map` resolves in the turn that asked, so no request,
 * close or failure can reach the machine while it maps: the disk suite covers those steps);
 * the durability checks of the flush adapter suite (a sync flush that leaves its bytes
 * durable, a power cut, a torn tail cut on reopen), since a log's durability is its servers'
 * replication, which this process cannot watch nor cut; and an async append's level (a log
 * confirms every append `replicated`).
 */

import { Synchronizer, WriterHandles } from "@spool/actors";
import {
  byteOffset,
  FlushFailed,
  type LogAdapter,
  type LogAppended,
  resolveConfig,
  type Seq,
  segmentNumber,
  seq,
  type WriteRequest,
  writerId,
} from "@spool/core";
import { type AdapterCheck, AdapterCheckFailed } from "./FlushAdapterSuite.js";
import type { DeclaredStep } from "./MachineSteps.js";
import { type FreshLog, runLogPath } from "./SynchronizerLogHarness.js";
import { coveringPaths, declaredSynchronizerSteps, type ModelPath } from "./SynchronizerPaths.js";

/**
 * A fresh log for one check: an adapter over an empty log, and what the suite needs to look
 * into the log and to make it misbehave.
 *
 * @example
 * const log = new MemoryLog();
 * const store: LogStore = {
 *   log,
 *   read: async (at) => log.read(at),
 *   recordCount: async () => log.recordCount,
 *   refuseAppends: async () => log.refuse(),
 *   loseAcknowledgements: (count) => log.loseAcknowledgements(count),
 *   acknowledgementsLost: () => log.acknowledgementsLost,
 * };
 */
export interface LogStore extends FreshLog {
  /** How many records the log holds (a record stored twice counts twice). */
  readonly recordCount: () => Promise<number>;
  /** Makes the log refuse every append from now on (full, sealed); what it holds stays. */
  readonly refuseAppends: () => Promise<void>;
  /**
   * Loses the acknowledgement of each of the next `count` records the log stores: stored, but
   * the adapter hears nothing back (or a timeout) and must send it again.
   */
  readonly loseAcknowledgements: (count: number) => void;
  /** How many acknowledgements were lost so far. */
  readonly acknowledgementsLost: () => number;
}

/**
 * The declared steps of the synchronizer's flowchart a log cannot take, and why: each waits on
 * a map, which a log does not have (`LogWriter.map` resolves in the turn that asked).
 *
 * @example
 * STEPS_NOT_ON_A_LOG.has("mapping --map.error--> failing") // true
 */
export const STEPS_NOT_ON_A_LOG: ReadonlyMap<DeclaredStep, string> = new Map([
  ["mapping --sync.requests--> mapping", "no request arrives while a log's map resolves"],
  ["mapping --sync.close--> mapping", "no close arrives while a log's map resolves"],
  ["mapping --map.error--> failing", "a log's map cannot fail"],
]);

// Enough appends from enough writers that batches gather several requests and go beside
// each other (pipelining), as under load; a few hundred keep a remote log's run short.
const APPENDS = 400;
const WRITERS = 4;
/** Records the log holds before the spool opens: its seqs then run ahead of the spool's. */
const RECORDS_BEFORE = 7;
/** Acknowledgements lost in the resend check: more than one, in more than one batch. */
const ACKNOWLEDGEMENTS_LOST = 3;
/** Simple paths per variant beside the covering transition paths (as the disk suite runs). */
const SIMPLE_PATHS = 10;

function expectThat(holds: boolean, what: string): void {
  if (!holds) throw new AdapterCheckFailed(what);
}

function payloadOf(n: number): Uint8Array {
  return new TextEncoder().encode(`log message ${n} `.padEnd(40 + ((n * 53) % 700), "."));
}

const keyOf = (payload: Uint8Array) => Buffer.from(payload).toString("latin1");

/** The log as the spool sees it, with the book of what it answered. */
class ObservedLog implements LogAdapter {
  readonly kind = "log";
  readonly name: string;
  /** What the log acknowledged each payload with, by its bytes. */
  readonly acknowledged = new Map<string, { seq: Seq; replicas: number }>();
  readonly rejections: unknown[] = [];
  readonly #base: LogAdapter;

  constructor(base: LogAdapter) {
    this.#base = base;
    this.name = base.name;
  }

  async append(requests: readonly WriteRequest[], sent: () => void): Promise<LogAppended> {
    try {
      const answer = await this.#base.append(requests, sent);
      for (const [at, request] of requests.entries()) {
        const seq = answer.seqs[at];
        if (seq !== undefined) {
          this.acknowledged.set(keyOf(request.payload), { seq, replicas: answer.replicas });
        }
      }
      return answer;
    } catch (error) {
      this.rejections.push(error);
      throw error;
    }
  }

  close(): Promise<void> {
    return this.#base.close();
  }
}

/** A spool's synchronizer and writers over a log, as `@spool/jetstream` puts them together. */
function openLogSpool(log: LogAdapter) {
  const dir = `log ${log.name}`;
  const config = resolveConfig({});
  let handles: WriterHandles | undefined;
  const synchronizer = new Synchronizer({
    dir,
    config,
    adapter: log,
    // The log numbers the records; the machine's own cursor only places them in its batches.
    cursor: { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) },
    clock: Date.now,
    onFailure: (failure) => handles?.spoolFailed(failure),
  });
  handles = new WriterHandles({ dir, config, synchronizer, reserve: undefined });
  const writers = handles;
  return {
    writer: () => writers.open(undefined),
    close: async () => {
      writers.closeLocal();
      await synchronizer.close();
      writers.closeRemote();
    },
  };
}

/** Appends `count` distinct payloads from {@link WRITERS} writers at once. */
async function appendMany(spool: ReturnType<typeof openLogSpool>, count: number) {
  const writers = Array.from({ length: WRITERS }, () => spool.writer());
  const results = await Promise.all(
    Array.from({ length: count }, async (_, n) => {
      const payload = payloadOf(n);
      return { payload, result: await writers[n % WRITERS]!.append(payload) };
    }),
  );
  return results;
}

/** Every confirmed record reads back by its seq with its bytes; no seq confirmed twice. */
async function expectReadBack(
  store: LogStore,
  confirmed: readonly { payload: Uint8Array; result: { seq: Seq } }[],
): Promise<void> {
  const seqs = new Set<number>();
  for (const { payload, result } of confirmed) {
    expectThat(!seqs.has(result.seq), `seq ${result.seq} confirmed for two appends`);
    seqs.add(result.seq);
    const bytes = await store.read(result.seq);
    expectThat(bytes !== undefined, `confirmed seq ${result.seq} is not in the log`);
    expectThat(
      Buffer.from(bytes!).equals(payload),
      `confirmed seq ${result.seq} reads back changed`,
    );
  }
}

async function withStore(
  freshLog: () => Promise<LogStore>,
  use: (store: LogStore) => Promise<void>,
): Promise<void> {
  const store = await freshLog();
  try {
    await use(store);
  } finally {
    await store.log.close();
    await store.remove?.();
  }
}

/** The log's covering paths, made once a process: the traversal takes seconds. */
let logPaths: readonly ModelPath[] | undefined;

/**
 * The checks, as named async functions, for any test runner. A broken promise throws
 * {@link AdapterCheckFailed} (or a path's `PathFailed`) saying what broke.
 *
 * @example
 * for (const check of logAdapterChecks(freshLog)) await check.run();
 */
export function logAdapterChecks(freshLog: () => Promise<LogStore>): AdapterCheck[] {
  return [
    {
      name: "runs a synchronizer model path for every step a log can take through the real runtime",
      run: async () => {
        logPaths ??= coveringPaths(SIMPLE_PATHS, "log");
        const covered = new Set<DeclaredStep>();
        let recordsReadBack = 0;
        for (const path of logPaths) {
          const report = await runLogPath(path, await freshLog());
          for (const step of report.steps) covered.add(step);
          recordsReadBack += report.recordsReadBack;
        }
        expectThat(recordsReadBack > 0, "no path confirmed a record to read back from the log");
        const declared = declaredSynchronizerSteps();
        const stale = [...STEPS_NOT_ON_A_LOG.keys()].filter((step) => !declared.has(step));
        expectThat(stale.length === 0, `steps not declared by the machine: ${stale.join(", ")}`);
        const taken = [...STEPS_NOT_ON_A_LOG.keys()].filter((step) => covered.has(step));
        expectThat(taken.length === 0, `steps said not to be a log's were taken: ${taken}`);
        const missing = [...declared].filter(
          (step) => !covered.has(step) && !STEPS_NOT_ON_A_LOG.has(step),
        );
        expectThat(missing.length === 0, `steps not covered: ${missing.join(", ")}`);
      },
    },
    {
      name: "confirms every append with the seq the log gave it, and it reads back by that seq",
      run: () => withStore(freshLog, (store) => checkSeqs(store)),
    },
    {
      name: "stores an append once when its acknowledgement was lost and it was sent again",
      run: () => withStore(freshLog, (store) => checkLostAcknowledgements(store)),
    },
    {
      name: "fails the writers of a refused batch with the log's error and loses nothing confirmed",
      run: () => withStore(freshLog, (store) => checkRefusal(store)),
    },
  ];
}

async function checkSeqs(store: LogStore): Promise<void> {
  const before = Array.from({ length: RECORDS_BEFORE }, (_, n) => payloadOf(-1 - n));
  await store.log.append(requestsOf(before), () => undefined);
  const observed = new ObservedLog(store.log);
  const spool = openLogSpool(observed);
  let confirmed: Awaited<ReturnType<typeof appendMany>>;
  try {
    confirmed = await appendMany(spool, APPENDS);
  } finally {
    await spool.close();
  }
  for (const { payload, result } of confirmed) {
    const given = observed.acknowledged.get(keyOf(payload));
    expectThat(given !== undefined, `an append confirmed as seq ${result.seq} the log never took`);
    expectThat(
      result.seq === given!.seq,
      `an append confirmed as seq ${result.seq}, the log gave it seq ${given!.seq}`,
    );
    expectThat(
      result.durability === "replicated" &&
        "replicas" in result &&
        result.replicas === given!.replicas,
      `seq ${result.seq} confirmed ${JSON.stringify(result)}, the log said ${given!.replicas} replicas`,
    );
  }
  await expectReadBack(store, confirmed);
  const count = await store.recordCount();
  expectThat(
    count === RECORDS_BEFORE + APPENDS,
    `${count} records for ${RECORDS_BEFORE + APPENDS}`,
  );
}

async function checkLostAcknowledgements(store: LogStore): Promise<void> {
  const spool = openLogSpool(store.log);
  store.loseAcknowledgements(ACKNOWLEDGEMENTS_LOST);
  let confirmed: Awaited<ReturnType<typeof appendMany>>;
  try {
    confirmed = await appendMany(spool, 40);
  } finally {
    await spool.close();
  }
  const lost = store.acknowledgementsLost();
  expectThat(
    lost === ACKNOWLEDGEMENTS_LOST,
    `the store lost ${lost} of the ${ACKNOWLEDGEMENTS_LOST} acknowledgements asked for`,
  );
  await expectReadBack(store, confirmed);
  const count = await store.recordCount();
  expectThat(count === confirmed.length, `${count} records stored for ${confirmed.length} appends`);
}

async function checkRefusal(store: LogStore): Promise<void> {
  const observed = new ObservedLog(store.log);
  const spool = openLogSpool(observed);
  let confirmed: Awaited<ReturnType<typeof appendMany>>;
  let outcomes: unknown[];
  try {
    confirmed = await appendMany(spool, 100);
    await store.refuseAppends();
    const writer = spool.writer();
    const refused = [payloadOf(1000), payloadOf(1001)].map((payload) => writer.append(payload));
    outcomes = await Promise.all(
      refused.map((append) =>
        append.then(
          () => "confirmed",
          (e) => e,
        ),
      ),
    );
    // The spool is broken now: a later append is refused with the same error.
    outcomes.push(
      await writer.append(payloadOf(1002)).then(
        () => "confirmed",
        (e) => e,
      ),
    );
  } finally {
    await spool.close();
  }
  const [rejection] = observed.rejections;
  expectThat(rejection !== undefined, "the log took appends after it was told to refuse them");
  expectThat(
    rejection instanceof FlushFailed,
    `the log refused with ${String(rejection)}, not a FlushFailed as a LogAdapter must`,
  );
  for (const outcome of outcomes) {
    expectThat(outcome !== "confirmed", "an append the log refused was confirmed");
    expectThat(
      outcome === rejection,
      `a writer of the refused batch got ${String(outcome)}, not the log's ${String(rejection)}`,
    );
  }
  await expectReadBack(store, confirmed);
}

/** Write requests for a log's own appends, outside any spool. */
function requestsOf(payloads: readonly Uint8Array[]): WriteRequest[] {
  return payloads.map((payload, at) => ({
    id: (2_000_000 + at) as WriteRequest["id"],
    writerId: writerId(0),
    senderId: writerId(0),
    payload,
    durability: "flushed",
    target: undefined,
  }));
}

/**
 * Registers the log conformance suite as vitest tests. `freshLog` makes a new, empty log for
 * each check (and each model path): see {@link LogStore}.
 *
 * @example
 * await testLogAdapter("memory log", async () => {
 *   const log = new MemoryLog();
 *   return {
 *     log,
 *     read: async (at) => log.read(at),
 *     recordCount: async () => log.recordCount,
 *     refuseAppends: async () => log.refuse(),
 *     loseAcknowledgements: (count) => log.loseAcknowledgements(count),
 *     acknowledgementsLost: () => log.acknowledgementsLost,
 *   };
 * });
 */
export async function testLogAdapter(
  name: string,
  freshLog: () => Promise<LogStore>,
): Promise<void> {
  const { describe, it } = await import("vitest");
  describe(`${name} conforms to the log adapter protocol`, () => {
    for (const check of logAdapterChecks(freshLog)) it(check.name, check.run, 120_000);
  });
}

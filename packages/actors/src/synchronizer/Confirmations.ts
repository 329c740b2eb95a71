/**
 * Claims 1, 34: a batch's write confirmations go to each of its writers, and their
 * confirmations of confirmation come back, gathered per microtask, to the synchronizer machine
 * (`writer.confirmed`). Writers that have not confirmed by the end of the call get two timers:
 * the deadline (adapted to the confirmations seen), which marks the late ones slow
 * (`writer.confirmDeadline`), and `confirmTimeoutMs`, which counts them failed
 * (`writer.confirmTimedOut`). Slow writers' confirmations are owed to {@link OwedConfirmations}.
 * The machine's `deliverConfirmations` actor runs one {@link deliverConfirmations} per batch and
 * disarms it when the batch no longer waits.
 */
import type { BatchId, PlacedWrite, SpoolConfig, WriterId } from "@spool/core";
import type {
  ConfirmationLatencies,
  OwedConfirmation,
  OwedConfirmations,
} from "../internal/ConfirmDeadline.js";
import type { ConfirmationReport, ConfirmJob } from "../machines/SynchronizerServices.js";
import type { WriterEndpoint } from "./Synchronizer.js";
import type { SynchronizerTimers } from "./SynchronizerTimers.js";

/** What delivering confirmations needs from the runtime. */
export interface ConfirmationsContext {
  readonly endpoints: ReadonlyMap<WriterId, WriterEndpoint>;
  readonly config: SpoolConfig;
  readonly clock: () => number;
  readonly timers: SynchronizerTimers;
  readonly latencies: ConfirmationLatencies;
  readonly owed: OwedConfirmations;
}

/** One batch's confirmations of confirmation, as the runtime waits for them. */
interface Round {
  readonly batchId: BatchId;
  /** When the write confirmations left: the deadline and the timeout count from here. */
  readonly sentAtMs: number;
  /** The batch's slow writers, not waited for: each owes its confirmation at once. */
  readonly notAwaited: ReadonlySet<WriterId>;
  /** The writers the batch waits for. */
  readonly entries: Map<WriterId, Confirmation>;
  readonly tally: ConfirmationTally;
  readonly cancels: (() => void)[];
  /** Set once the batch no longer waits: later reports are dropped. */
  done: boolean;
}

/** One writer's confirmation of confirmation for one batch. */
interface Confirmation {
  settled: boolean;
  /** Set when the writer is slow: its confirmation is owed, counted when it comes. */
  owed: OwedConfirmation | undefined;
}

/**
 * Sends a batch's write confirmations and reports what comes back through `report`. Returns
 * the function that stops waiting (disarms the timers, drops later reports).
 *
 * @example
 * const stop = deliverConfirmations(context, job, (event) => actor.send(event));
 */
export function deliverConfirmations(
  context: ConfirmationsContext,
  job: ConfirmJob,
  report: (event: ConfirmationReport) => void,
): () => void {
  const { batch } = job;
  const groups = groupBySender(batch.writes, (write) => write.request.senderId);
  const notAwaited = new Set(job.notAwaited);
  const round: Round = {
    batchId: batch.id,
    sentAtMs: context.clock(),
    notAwaited,
    entries: new Map(),
    tally: new ConfirmationTally(groups.size - notAwaited.size, (message) => {
      if (round.tally.outstanding === 0) disarm(round);
      report({ type: "writer.confirmed", batchId: batch.id, ...message });
    }),
    cancels: [],
    done: false,
  };
  sendConfirmations(context, round, groups, job, report);
  round.tally.schedule();
  if (!round.tally.allIn()) armConfirmTimers(context, round, report);
  return () => {
    round.done = true;
    round.tally.stop();
    disarm(round);
  };
}

function disarm(round: Round): void {
  for (const cancel of round.cancels.splice(0)) cancel();
}

/** The write confirmations, one per writer; slow writers' confirmations are owed at once. */
function sendConfirmations(
  context: ConfirmationsContext,
  round: Round,
  groups: Map<WriterId, readonly PlacedWrite[]>,
  job: ConfirmJob,
  report: (event: ConfirmationReport) => void,
): void {
  const { batchId, sentAtMs, notAwaited, entries, tally } = round;
  const { clock, latencies, owed } = context;
  const ceilingMs = context.config.confirmTimeoutMs;
  let inCall = true;
  for (const [senderId, writes] of groups) {
    const endpoint = context.endpoints.get(senderId);
    const slow = notAwaited.has(senderId);
    if (endpoint === undefined) {
      // Gone: counted as vanished, or, if slow, its owed confirmation lapses at once.
      if (!slow) tally.vanish();
      else report({ type: "writer.lateConfirmed", writerId: senderId, confirmed: 0, lapsed: 1 });
      continue;
    }
    const entry: Confirmation = {
      settled: false,
      owed: slow ? owed.owe(senderId, sentAtMs) : undefined,
    };
    if (!slow) entries.set(senderId, entry);
    endpoint.written({ batchId, writes, level: job.level, replicas: job.replicas }, () => {
      // Writers in this thread confirm during the call: only the others' latency counts.
      if (entry.owed !== undefined) {
        // A late confirmation's latency counts too (once, and not after it lapsed), or the
        // deadline, learning only from those under it, would never rise above the floor on a
        // machine where a thread routinely answers slower: capped at the ceiling, past which
        // a confirmation lapses anyway.
        if (!entry.owed.settled && !inCall) {
          latencies.record(Math.min(clock() - sentAtMs, ceilingMs));
        }
        owed.confirm(senderId, entry.owed);
        return;
      }
      if (entry.settled) return;
      entry.settled = true;
      if (!inCall) latencies.record(clock() - sentAtMs);
      tally.confirm();
    });
  }
  inCall = false;
}

/**
 * The timers of a batch still waiting for confirmations: confirmTimeoutMs counts the late
 * ones failed; the deadline, earlier, marks them slow and owing (issue 17, finding 10). Each
 * first reports the confirmations already gathered.
 */
function armConfirmTimers(
  context: ConfirmationsContext,
  round: Round,
  report: (event: ConfirmationReport) => void,
): void {
  const { batchId, sentAtMs, entries, tally } = round;
  const late = (): WriterId[] =>
    [...entries]
      .filter(([, entry]) => !entry.settled && entry.owed === undefined)
      .map(([id]) => id);
  const arm = (ms: number, fire: () => void, purpose: "confirmDeadline" | "confirmTimeout") => {
    const onTime = (): void => {
      if (round.done) return;
      disarm(round);
      tally.report();
      if (tally.outstanding > 0) fire();
    };
    round.cancels.push(context.timers.after(ms, onTime, { kind: purpose }));
  };
  const { confirmTimeoutMs } = context.config;
  arm(
    confirmTimeoutMs,
    () => {
      for (const id of late()) entries.get(id)!.settled = true;
      report({ type: "writer.confirmTimedOut", batchId });
    },
    "confirmTimeout",
  );
  const deadlineMs = context.latencies.deadlineMs(confirmTimeoutMs);
  if (deadlineMs === null) return;
  arm(
    deadlineMs,
    () => {
      const ids = late();
      for (const id of ids) entries.get(id)!.owed = context.owed.owe(id, sentAtMs);
      tally.forget(ids.length);
      report({ type: "writer.confirmDeadline", batchId, late: ids });
    },
    "confirmDeadline",
  );
}

/**
 * The count of a batch's awaited confirmations, reported to the machine once per microtask.
 * A batch that awaits none (its writers are all slow) is reported once with zero, so the
 * machine clears it.
 */
class ConfirmationTally {
  outstanding: number;
  #confirmed = 0;
  #vanished = 0;
  #scheduled = false;
  #reported = false;
  #stopped = false;
  readonly #send: (message: { confirmed: number; vanished: number }) => void;

  constructor(awaited: number, send: (message: { confirmed: number; vanished: number }) => void) {
    this.outstanding = awaited;
    this.#send = send;
  }

  confirm(): void {
    this.#confirmed += 1;
    this.schedule();
  }

  vanish(): void {
    this.#vanished += 1;
  }

  /** Whether every awaited confirmation is in (reported or about to be). */
  allIn(): boolean {
    return this.#confirmed + this.#vanished === this.outstanding;
  }

  /** Late writers the machine is told of separately: no longer awaited here. */
  forget(count: number): void {
    this.outstanding -= count;
  }

  /** The batch no longer waits: nothing more is reported. */
  stop(): void {
    this.#stopped = true;
  }

  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.report());
  }

  report(): void {
    this.#scheduled = false;
    if (this.#stopped) return;
    const confirmed = this.#confirmed;
    const vanished = this.#vanished;
    if (confirmed + vanished === 0 && (this.#reported || this.outstanding > 0)) return;
    this.#reported = true;
    this.#confirmed = 0;
    this.#vanished = 0;
    this.outstanding -= confirmed + vanished;
    this.#send({ confirmed, vanished });
  }
}

/**
 * Items by the sender they belong to, in order. When one sender owns them all (a batch from
 * one thread) the list is passed on as it is, with no copy per message.
 *
 * @example
 * groupBySender(requests, (request) => request.senderId)
 */
export function groupBySender<T>(
  items: readonly T[],
  senderOf: (item: T) => WriterId,
): Map<WriterId, readonly T[]> {
  const first = items[0];
  if (first === undefined) return new Map();
  const only = senderOf(first);
  if (items.every((item) => senderOf(item) === only)) return new Map([[only, items]]);
  const groups = new Map<WriterId, T[]>();
  for (const item of items) {
    const own = groups.get(senderOf(item));
    if (own === undefined) groups.set(senderOf(item), [item]);
    else own.push(item);
  }
  return groups;
}

/**
 * The runtime's side of slow writers (issue 17, finding 10): the confirmation deadline, adapted
 * to the confirmations of confirmation actually observed, and the book of confirmations owed by
 * writers marked slow, each lapsing at `confirmTimeoutMs` after its write confirmation left, as
 * an unconfirmed batch did before. The machine counts (see `SlowWriters.ts`); this keeps the
 * clocks.
 */
import type { WriterId } from "@spool/core";

// The last 256 confirmations that did not arrive during the call (writers in other threads or
// processes): at one batch per millisecond, a quarter of a second of history, so the deadline
// follows a change in load within a second; enough samples that the 99th percentile is the
// third-highest, not the single worst.
const LATENCY_SAMPLES = 256;
// The 99th percentile: a confirmation slower than almost all seen, not just slower than usual.
const LATENCY_PERCENTILE = 0.99;
// Its rank from the top of a full window: 2, the third-highest. A window not yet full counts
// as filled with fast confirmations, so the deadline rises only once three confirmations were
// slow: otherwise, with few samples, the percentile is the single worst, and one pause while
// the spool warms up (a GC, a descheduled thread) would set a deadline of four times it for
// the next 256 batches, which a writer blocked in that time would cost every batch it is in.
const RANK_FROM_TOP = LATENCY_SAMPLES - Math.ceil(LATENCY_PERCENTILE * LATENCY_SAMPLES);
// Four times that: room for a writer's minor GC or a descheduled thread on a busy machine (the
// tests share 2 cores among several runs) before it is called slow.
const DEADLINE_MULTIPLE = 4;
/**
 * The deadline's floor in milliseconds (see below why 20).
 *
 * @example latencies.deadlineMs(5000) >= CONFIRM_DEADLINE_FLOOR_MS
 */
// Never under 20 ms: with fast confirmations (tens of µs across a MessagePort) a multiple of
// the percentile would mark a writer slow for one scheduler hiccup; and a batch that waits
// 20 ms once keeps the others' append p99 within issue 17's 50 ms budget.
export const CONFIRM_DEADLINE_FLOOR_MS = 20;
// The percentile is recomputed after this many new samples, not on every batch.
const RECOMPUTE_EVERY = 32;

/**
 * Recent confirmation latencies and the deadline they give: the percentile times the multiple,
 * at least the floor, and null when that reaches `confirmTimeoutMs` (the ceiling, whose timer
 * then decides alone, as before).
 *
 * @example
 * const latencies = new ConfirmationLatencies();
 * latencies.record(0.3);
 * latencies.deadlineMs(5000); // 20
 */
export class ConfirmationLatencies {
  readonly #samples = new Float64Array(LATENCY_SAMPLES);
  #count = 0;
  #sinceRecompute = 0;
  #percentileMs = 0;

  record(latencyMs: number): void {
    this.#samples[this.#count % LATENCY_SAMPLES] = Math.max(0, latencyMs);
    this.#count += 1;
    this.#sinceRecompute += 1;
    if (this.#sinceRecompute >= RECOMPUTE_EVERY || this.#count <= RECOMPUTE_EVERY) {
      this.#sinceRecompute = 0;
      const filled = this.#samples.slice(0, Math.min(this.#count, LATENCY_SAMPLES)).sort();
      // Nearest rank, rounded up, over a full window (see RANK_FROM_TOP).
      const rank = filled.length - 1 - RANK_FROM_TOP;
      this.#percentileMs = rank >= 0 ? filled[rank]! : 0;
    }
  }

  deadlineMs(ceilingMs: number): number | null {
    const deadline = Math.max(CONFIRM_DEADLINE_FLOOR_MS, this.#percentileMs * DEADLINE_MULTIPLE);
    return deadline < ceilingMs ? Math.ceil(deadline) : null;
  }
}

/**
 * One confirmation a slow writer owes: when its write confirmation left, and whether settled.
 *
 * @example const owed = book.owe(writerId(2), Date.now()); // { sentAtMs, settled: false }
 */
export interface OwedConfirmation {
  readonly sentAtMs: number;
  settled: boolean;
}

interface Debtor {
  readonly owed: OwedConfirmation[];
  cancel: (() => void) | undefined;
}

/**
 * Where the book reports a settled confirmation: arrived (`confirmed`) or `lapsed`.
 *
 * @example const report: SettleReport = (writerId, confirmed, lapsed) => count(writerId);
 */
export type SettleReport = (writerId: WriterId, confirmed: number, lapsed: number) => void;

/**
 * What the book of owed confirmations needs.
 *
 * @example { after: (ms, fire) => timers.after(ms, fire), ceilingMs: 5000, clock, report }
 */
export interface OwedConfirmationsOptions {
  /** Arms a lapse timer for `writerId`'s oldest owed confirmation; returns its cancel. */
  readonly after: (ms: number, fire: () => void, writerId: WriterId) => () => void;
  readonly ceilingMs: number;
  readonly clock: () => number;
  readonly report: SettleReport;
}

/**
 * Confirmations owed by slow writers, oldest first per writer, with one timer per writer for
 * the oldest: it lapses at `ceilingMs` after its write confirmation left.
 *
 * @example
 * const book = new OwedConfirmations({ timers, ceilingMs: 5000, clock: Date.now, report });
 * const owed = book.owe(writerId(2), Date.now());
 * book.confirm(writerId(2), owed);
 */
export class OwedConfirmations {
  readonly #debtors = new Map<WriterId, Debtor>();
  readonly #options: OwedConfirmationsOptions;
  /** Once the synchronizer stopped, nothing is reported: its machine takes no more events. */
  #stopped = false;

  constructor(options: OwedConfirmationsOptions) {
    this.#options = options;
  }

  /** Records a confirmation `writerId` owes, its write confirmation sent at `sentAtMs`. */
  owe(writerId: WriterId, sentAtMs: number): OwedConfirmation {
    const owed: OwedConfirmation = { sentAtMs, settled: false };
    let debtor = this.#debtors.get(writerId);
    if (debtor === undefined) {
      debtor = { owed: [], cancel: undefined };
      this.#debtors.set(writerId, debtor);
    }
    debtor.owed.push(owed);
    if (debtor.owed.length === 1) this.#arm(writerId, debtor);
    return owed;
  }

  /** The owed confirmation came: counted once, however often the writer answers. */
  confirm(writerId: WriterId, owed: OwedConfirmation): void {
    if (owed.settled || this.#stopped) return;
    owed.settled = true;
    this.#options.report(writerId, 1, 0);
    const debtor = this.#debtors.get(writerId);
    if (debtor !== undefined && debtor.owed[0] === owed) this.#arm(writerId, debtor);
  }

  /** Cancels every timer (the synchronizer stopped). */
  stop(): void {
    this.#stopped = true;
    for (const debtor of this.#debtors.values()) debtor.cancel?.();
    this.#debtors.clear();
  }

  /** Drops settled confirmations from the head, then times the oldest one left. */
  #arm(writerId: WriterId, debtor: Debtor): void {
    debtor.cancel?.();
    debtor.cancel = undefined;
    while (debtor.owed[0]?.settled === true) debtor.owed.shift();
    const oldest = debtor.owed[0];
    if (oldest === undefined) {
      this.#debtors.delete(writerId);
      return;
    }
    const { ceilingMs, clock } = this.#options;
    const inMs = Math.max(0, oldest.sentAtMs + ceilingMs - clock());
    debtor.cancel = this.#options.after(
      inMs,
      () => {
        debtor.cancel = undefined;
        if (!oldest.settled) {
          oldest.settled = true;
          this.#options.report(writerId, 0, 1);
        }
        this.#arm(writerId, debtor);
      },
      writerId,
    );
  }
}

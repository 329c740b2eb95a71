/**
 * The disk budget (`diskBudgetBytes`, claims 62-63): which data segments still hold messages,
 * where flushed data ends and how many record bytes were accepted but not flushed yet, so that
 * an append the budget cannot hold is refused with `SpoolFull`; and the reclaiming that recycles
 * (or deletes) a segment once all its messages are done, which is what gives the budget room
 * again.
 */
import {
  byteOffset,
  byteSize,
  type ConsumerQueue,
  type FlushAdapter,
  type PlacedWrite,
  RECORD_FORMAT_VERSION,
  RECYCLED_SEGMENTS_MAX,
  recordByteSize,
  type SegmentsPrepared,
  type SpoolConfig,
  SpoolFull,
  segmentNumber,
} from "@spool/core";
import type { PayloadReader } from "../internal/PayloadReader.js";
import type { DeadLetterStore } from "./DeadLetterStore.js";
import type { IndexFile } from "./IndexFile.js";

/** What a {@link DiskBudget} accounts for and reclaims from. @example { dir, config, adapter, ... } */
export interface DiskBudgetOptions {
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly adapter: FlushAdapter;
  readonly index: IndexFile;
  /** The consumers' queue: its settled floor says which segments are done with. */
  readonly queue: ConsumerQueue;
  /** Where a reclaimed segment's dead letters are kept. */
  readonly deadLetterStore: DeadLetterStore;
  readonly reader: PayloadReader;
  /** The first seq of each data segment that holds records at open, oldest first. */
  readonly segmentStarts: ReadonlyMap<number, number>;
  /** Where the data ended at open. */
  readonly tail: { readonly segment: number; readonly offset: number };
}

/**
 * The spool's data segments against its disk budget: reserves room for each append, follows
 * the flushes, and reclaims segments whose messages are all done.
 *
 * @example
 * const refusal = budget.reserve(payload.byteLength); // SpoolFull, or undefined when it fits
 */
export class DiskBudget {
  readonly #options: DiskBudgetOptions;
  /** The first seq of each live data segment, oldest first (Map keeps insertion order). */
  readonly #segmentFirstSeq = new Map<number, number>();
  /** Segment deletions run one at a time, after the acks that allow them. */
  #reclaiming: Promise<void> = Promise.resolve();
  #segmentsReclaimed = 0;
  #reclaimFailure: unknown;
  /**
   * Where flushed data ends (async batches' included: what `records()` reads up to), and record
   * bytes accepted but not flushed yet (for the budget).
   */
  #tail: { segment: number; offset: number };
  #pendingBytes = 0;

  constructor(options: DiskBudgetOptions) {
    this.#options = options;
    this.#tail = { segment: options.tail.segment, offset: options.tail.offset };
    for (const [segment, firstSeq] of options.segmentStarts) {
      this.#segmentFirstSeq.set(segment, firstSeq);
    }
  }

  /** Where flushed data ends, async batches' included. */
  get tail(): { readonly segment: number; readonly offset: number } {
    return this.#tail;
  }

  /** Data segments recycled or deleted because all their messages were done. */
  get segmentsReclaimed(): number {
    return this.#segmentsReclaimed;
  }

  /** How the data segments this open made were prepared: zero-filled, or recycled. */
  get segmentsPrepared(): SegmentsPrepared {
    return this.#options.adapter.segmentsPrepared?.() ?? { zeroFilled: 0, recycled: 0 };
  }

  /** Why reclaiming segments stopped, if it failed (segments are then kept, never lost). */
  get reclaimFailure(): unknown {
    return this.#reclaimFailure;
  }

  /**
   * The disk budget's check for one more record: the data segments the tail will need, counting
   * records accepted and not durable yet, against `diskBudgetBytes`.
   */
  reserve(payloadByteSize: number): SpoolFull | undefined {
    const budget = this.#options.config.diskBudgetBytes;
    if (budget === null) return undefined;
    const { segmentByteSize } = this.#options.config;
    const size = recordByteSize(payloadByteSize);
    const oldest = this.#segmentFirstSeq.keys().next().value ?? this.#tail.segment;
    const end = this.#tail.offset + this.#pendingBytes + size;
    const beyond = Math.ceil(Math.max(0, end - segmentByteSize) / segmentByteSize);
    const neededBytes = (this.#tail.segment - oldest + 1 + beyond) * segmentByteSize;
    if (neededBytes > budget) {
      return new SpoolFull({ dir: this.#options.dir, budgetBytes: budget, neededBytes });
    }
    this.#pendingBytes += size;
    return undefined;
  }

  /**
   * Follows a batch's flush: the data now ends after its last write, a segment it began is
   * live, and its bytes are no longer pending.
   */
  flushed(writes: readonly PlacedWrite[]): void {
    const last = writes.at(-1);
    if (last !== undefined) {
      this.#tail = { segment: last.segment, offset: last.offset + last.byteSize };
    }
    let written = 0;
    let segment = -1;
    for (const write of writes) {
      written += write.byteSize;
      if (write.segment !== segment) {
        segment = write.segment;
        if (!this.#segmentFirstSeq.has(write.segment)) {
          this.#segmentFirstSeq.set(write.segment, write.seq);
        }
      }
    }
    this.#pendingBytes = Math.max(0, this.#pendingBytes - written);
  }

  /**
   * Deletes data segments whose messages are all done (claims 62-63), oldest first, never the
   * one being appended to; then index segments wholly below the oldest data left. Data goes
   * first: a crash between the two leaves index entries nobody reads, never records without
   * their entries.
   */
  reclaim(): void {
    // Dead letters do not hold a segment: they move to the dead-letter store first.
    const floor = this.#options.queue.settledFloor;
    const reclaimable: number[] = [];
    let previous: number | undefined;
    for (const [segment, firstSeq] of this.#segmentFirstSeq) {
      if (previous !== undefined && firstSeq <= floor) reclaimable.push(previous);
      if (firstSeq > floor) break;
      previous = segment;
    }
    if (reclaimable.length === 0) return;
    for (const segment of reclaimable) this.#segmentFirstSeq.delete(segment);
    const oldestLeft = this.#segmentFirstSeq.values().next().value ?? floor;
    this.#reclaiming = this.#reclaiming.then(async () => {
      try {
        for (const segment of reclaimable) {
          await this.#keepDeadLetters(segment);
          await this.#recycleOrRemove(segmentNumber(segment));
          this.#segmentsReclaimed += 1;
        }
        await this.#options.index.removeSegmentsBelow(oldestLeft);
      } catch (error) {
        this.#reclaimFailure ??= error;
      }
    });
  }

  /**
   * Recycles a reclaimed segment (the adapter keeps it to become a later one, see
   * `FlushAdapter.recycleSegment`) when its records are stamped and the disk budget leaves room
   * for the spares beside the live segments and the one prepared ahead; deletes it otherwise.
   * A segment begun before stamps (its first record format 1) is never recycled: its unstamped
   * records could not be told from a later life's.
   */
  async #recycleOrRemove(segment: ReturnType<typeof segmentNumber>): Promise<void> {
    const { adapter, config } = this.#options;
    const budget = config.diskBudgetBytes;
    const kept = this.#segmentFirstSeq.size + 1 + RECYCLED_SEGMENTS_MAX;
    const room = budget === null || kept * config.segmentByteSize <= budget;
    if (adapter.recycleSegment !== undefined && room) {
      const header = await adapter.read(segment, byteOffset(0), byteSize(8));
      const version = header.byteLength >= 6 ? header[4]! | (header[5]! << 8) : 0;
      if (version === RECORD_FORMAT_VERSION) return adapter.recycleSegment(segment);
    }
    return adapter.removeSegment(segment);
  }

  /** Copies a segment's dead letters to the store (durably) before the segment goes. */
  async #keepDeadLetters(segment: number): Promise<void> {
    const letters = this.#options.queue
      .deadLetters()
      .filter((letter) => letter.segment === segment);
    if (letters.length === 0) return;
    const kept = await Promise.all(
      letters.map(async (letter) => ({
        seq: letter.seq,
        attempts: letter.attempts,
        payload: (await this.#options.reader.read(letter)).slice(),
      })),
    );
    await this.#options.deadLetterStore.add(kept);
    for (const letter of letters) this.#options.queue.moveDeadLetter(letter.seq);
  }

  /** Resolves once the segment deletions begun so far are done (or failed). */
  settled(): Promise<void> {
    return this.#reclaiming;
  }
}

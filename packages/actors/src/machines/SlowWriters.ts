/**
 * The synchronizer's book of slow writers (issue 17, finding 10), kept in the machine's context
 * so claim 64's counting stays visible there: a writer whose confirmation of confirmation missed
 * its batch's deadline is marked slow; the batch is cleared with that confirmation counted as
 * outstanding here, per writer, and settled when it comes (or lapses at `confirmTimeoutMs`).
 * While a writer owes confirmations, later batches do not wait for it: its confirmations are
 * counted as they arrive. It is timely again once it owes none.
 *
 * Why clearing early is safe: the write confirmation left before the deadline started (it is
 * in the writer's port or socket buffer), and the batch's bytes were flushed before that; all
 * that clearing drops is the machine's record of the batch, which nothing else needs. The late
 * confirmation is answered once (the runtime's guard), counted here, and never an error.
 *
 * Pure functions; the book holds one entry per slow writer, so it is bounded by the writers
 * registered with the spool.
 */
import { InvariantViolation, type WriterId } from "@spool/core";

/**
 * A writer marked slow, and how many confirmations of confirmation it still owes.
 *
 * @example { writerId: writerId(2), outstanding: 1 }
 */
export interface SlowWriter {
  readonly writerId: WriterId;
  readonly outstanding: number;
}

/** The slow writers, in the order they were marked. @example context.slowWriters */
export type SlowWriters = readonly SlowWriter[];

/** Whether `writerId` is marked slow. @example isSlow(context.slowWriters, writerId(2)) */
export function isSlow(book: SlowWriters, writerId: WriterId): boolean {
  return book.some((writer) => writer.writerId === writerId);
}

/**
 * The book with one more confirmation owed by each of `writerIds` (marking those not yet
 * slow), and how many were newly marked.
 *
 * @example
 * const { book, marked } = oweConfirmations([], [writerId(2)]); // marked 1
 */
export function oweConfirmations(
  book: SlowWriters,
  writerIds: readonly WriterId[],
): { readonly book: SlowWriters; readonly marked: number } {
  if (writerIds.length === 0) return { book, marked: 0 };
  const next = [...book];
  let marked = 0;
  for (const writerId of writerIds) {
    const at = next.findIndex((writer) => writer.writerId === writerId);
    if (at === -1) {
      next.push({ writerId, outstanding: 1 });
      marked += 1;
    } else {
      next[at] = { writerId, outstanding: next[at]!.outstanding + 1 };
    }
  }
  return { book: next, marked };
}

/**
 * The book once `count` of `writerId`'s outstanding confirmations are settled (arrived or
 * lapsed); a writer that owes none is timely again and leaves the book.
 *
 * @example
 * settleConfirmations([{ writerId: writerId(2), outstanding: 1 }], writerId(2), 1) // []
 */
export function settleConfirmations(
  book: SlowWriters,
  writerId: WriterId,
  count: number,
): SlowWriters {
  const at = book.findIndex((writer) => writer.writerId === writerId);
  if (at === -1) {
    throw new InvariantViolation({
      message: `writer ${writerId} settled a confirmation it did not owe`,
    });
  }
  const outstanding = book[at]!.outstanding - count;
  if (outstanding < 0) {
    throw new InvariantViolation({ message: `writer ${writerId} settled more than it owed` });
  }
  if (outstanding === 0) return book.filter((_, index) => index !== at);
  return book.map((writer, index) => (index === at ? { writerId, outstanding } : writer));
}

/** Confirmations owed by all slow writers together. @example outstandingConfirmations(book) */
export function outstandingConfirmations(book: SlowWriters): number {
  let total = 0;
  for (const writer of book) total += writer.outstanding;
  return total;
}

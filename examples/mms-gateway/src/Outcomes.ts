/**
 * The journal of failed messages: why each failed and when, written durably before the message
 * is acked in the spool, so the status query says "Failed" and why across restarts (the spool
 * itself only knows the message is done). One JSON line per failure in `failed.jsonl`, appended
 * and flushed in groups; a torn last line (a crash mid-append) is dropped on open, and the file
 * is rewritten whole once it holds twice the failures it keeps.
 */
import { type FileHandle, open, readFile } from "node:fs/promises";
import { writeFileDurably } from "./DurableFile.js";
import type { Awaitable } from "./GatewaySpool.js";
import type { MmStatus } from "./Mm7.js";

/** Why a message failed: the delivery report's MMStatus, a reason, and when. */
export interface Failure {
  readonly seq: number;
  readonly mmStatus: Extract<MmStatus, "Rejected" | "Expired">;
  readonly reason: string;
  readonly atMs: number;
}

/**
 * Failures kept, 100,000 (about 15 MB of journal at ~150 bytes a line): a VASP asks about a
 * message within hours of sending it; past the bound the oldest failures are forgotten and their
 * messages read "Delivered" (done in the spool), which the README says.
 */
export const FAILURES_KEPT_MAX = 100_000;

/** A reason is cut to this many characters: a recipient's answer must not grow the journal. */
const REASON_CHARACTERS_MAX = 500;

/** The durable record of failed messages. */
export class Outcomes {
  readonly #file: string;
  readonly #failures: Map<number, Failure>;
  readonly #keptMax: number;
  #handle: FileHandle;
  #linesInFile: number;
  #pending: { failure: Failure; done: () => void; failed: (error: unknown) => void }[] = [];
  #flushing: Promise<void> | undefined;
  /** A write failed: the file may end in part of a line, so it is rewritten whole next. */
  #torn = false;

  private constructor(file: string, handle: FileHandle, failures: Failure[], keptMax: number) {
    this.#file = file;
    this.#handle = handle;
    this.#keptMax = keptMax;
    this.#failures = new Map(failures.map((failure) => [failure.seq, failure]));
    this.#linesInFile = failures.length;
  }

  /**
   * Opens (or creates) the journal in `file`, keeping the failures of seqs the spool has
   * `reached` (a journal kept beside a recreated spool names seqs it has not reached). A spool
   * reaches its seqs in order, so the last one reached is found by bisection: a few questions,
   * which on a stream are requests to the cluster, however many failures the journal keeps.
   */
  static async open(
    file: string,
    keptMax = FAILURES_KEPT_MAX,
    reached: (seq: number) => Awaitable<boolean> = () => true,
  ): Promise<Outcomes> {
    const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return "";
      throw error;
    });
    const journal = parseJournal(text);
    const through = await lastReached(
      journal.map((failure) => failure.seq),
      reached,
    );
    const failures = journal.filter((failure) => failure.seq <= through).slice(-keptMax);
    // Rewritten on open: a torn last line goes, and the file starts with whole lines only.
    await writeFileDurably(file, failures.map(lineOf).join(""));
    const handle = await open(file, "a", 0o600);
    return new Outcomes(file, handle, failures, keptMax);
  }

  /** The failure recorded durably for `seq`, if any. */
  get(seq: number): Failure | undefined {
    return this.#failures.get(seq);
  }

  /** Records a failure; resolves once it is durable (and only then does `get` return it). */
  record(failure: Failure): Promise<void> {
    const kept = { ...failure, reason: failure.reason.slice(0, REASON_CHARACTERS_MAX) };
    return new Promise((done, failed) => {
      this.#pending.push({ failure: kept, done, failed });
      this.#flushing ??= this.#flush();
    });
  }

  /** Waits for pending records, and closes the file. */
  async close(): Promise<void> {
    await this.#flushing;
    // After a failed compaction the handle may be closed already.
    await (this.#torn ? this.#handle.close().catch(() => undefined) : this.#handle.close());
  }

  /** Writes the pending lines in groups, one datasync per group, until none are left. */
  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const group = this.#pending.splice(0);
      const failures = group.map((entry) => entry.failure);
      try {
        if (this.#torn || this.#linesInFile + group.length > 2 * this.#keptMax) {
          await this.#compact(failures);
        } else {
          await writeWhole(this.#handle, Buffer.from(failures.map(lineOf).join(""), "utf8"));
          await this.#handle.datasync();
          this.#linesInFile += group.length;
        }
      } catch (error) {
        this.#torn = true;
        for (const entry of group) entry.failed(error);
        continue;
      }
      for (const failure of failures) this.#failures.set(failure.seq, failure);
      this.#forgetOldest();
      for (const entry of group) entry.done();
    }
    this.#flushing = undefined;
  }

  /** Replaces the file with the failures kept and `added`, the newest `keptMax` of them. */
  async #compact(added: readonly Failure[]): Promise<void> {
    await this.#handle.close().catch(() => undefined);
    const addedSeqs = new Set(added.map((failure) => failure.seq));
    const kept = [...this.#failures.values()].filter((failure) => !addedSeqs.has(failure.seq));
    const failures = [...kept, ...added].slice(-this.#keptMax);
    await writeFileDurably(this.#file, failures.map(lineOf).join(""));
    this.#handle = await open(this.#file, "a", 0o600);
    this.#linesInFile = failures.length;
    this.#torn = false;
  }

  #forgetOldest(): void {
    for (const seq of this.#failures.keys()) {
      if (this.#failures.size <= this.#keptMax) return;
      this.#failures.delete(seq);
    }
  }
}

/**
 * Writes all of `bytes`: a write may take fewer bytes than asked (a full disk, a signal), and
 * what it left out would otherwise be lost from a line believed durable.
 */
async function writeWhole(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset);
    // No progress: throwing marks the file torn, and it is rewritten whole next.
    if (bytesWritten <= 0) throw new Error(`a write to the journal took no bytes`);
    offset += bytesWritten;
  }
}

/** The greatest of `seqs` that `reached` holds for (it holds for a prefix of them); 0 if none. */
async function lastReached(
  seqs: readonly number[],
  reached: (seq: number) => Awaitable<boolean>,
): Promise<number> {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  // Invariant: the seqs before index `low` are reached, none from index `high` on.
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (await reached(sorted[middle]!)) low = middle + 1;
    else high = middle;
  }
  return low === 0 ? 0 : sorted[low - 1]!;
}

function lineOf(failure: Failure): string {
  return `${JSON.stringify(failure)}\n`;
}

/** The journal's failures, later lines winning; a line that does not parse is skipped. */
function parseJournal(text: string): Failure[] {
  const failures = new Map<number, Failure>();
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    try {
      const failure = JSON.parse(line) as Failure;
      if (Number.isInteger(failure.seq) && typeof failure.reason === "string") {
        failures.set(failure.seq, failure);
      }
    } catch {
      // A torn line: the crash came before its datasync, so its message was never acked.
    }
  }
  return [...failures.values()];
}

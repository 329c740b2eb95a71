/**
 * Dead letters (messages whose spool attempts ran out) and their Rejected reports. With
 * `maxAttempts` at its most (`ATTEMPTS_MAX`) a message fails by expiry or refusal instead, but a
 * spool written by an older gateway (5 attempts) may hold dead letters, and a gateway may still
 * be configured with a low `maxAttempts`: a message can then die without its handler seeing the
 * last failure (a crash during the last attempt, or a last lease that expired). A sweep reports
 * those, and a small durable file remembers which were reported.
 */
import { readFile } from "node:fs/promises";
import type { DeadLetter, Spool } from "@spool/actors";
import { writeFileDurably } from "./DurableFile.js";

/** How often dead letters are checked for a missing report. */
const SWEEP_MS = 1000;

/** The dead letters whose Rejected report is queued, kept durably in a small file. */
export class ReportedDeadLetters {
  readonly #file: string;
  readonly #seqs: Set<number>;
  #saving: Promise<void> = Promise.resolve();
  #sweeping: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  private constructor(file: string, seqs: Set<number>) {
    this.#file = file;
    this.#seqs = seqs;
  }

  static async open(file: string): Promise<ReportedDeadLetters> {
    const text = await readFile(file, "utf8").catch(() => "[]");
    return new ReportedDeadLetters(file, new Set(JSON.parse(text) as number[]));
  }

  /** Every second, reports the dead letters of `spool` not reported yet, with `report`. */
  sweep(spool: Spool, report: (letter: DeadLetter) => Promise<void>): void {
    const once = async (): Promise<void> => {
      // Reading the letters costs a read each: only when there are more than were reported.
      if (spool.stats().messages.dead <= this.#seqs.size) return;
      for (const letter of await spool.deadLetters()) {
        if (this.#seqs.has(letter.seq)) continue;
        await report(letter);
        await this.#add(letter.seq);
      }
    };
    const run = () => {
      this.#sweeping = this.#sweeping.then(once).catch(() => undefined);
    };
    this.#timer = setInterval(run, SWEEP_MS);
    this.#timer.unref();
    run();
  }

  /** Stops sweeping, once the sweep in progress is done. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  /** Adds `seq`; resolves once the file says so durably. */
  #add(seq: number): Promise<void> {
    this.#seqs.add(seq);
    const snapshot = JSON.stringify([...this.#seqs]);
    this.#saving = this.#saving.then(() => writeFileDurably(this.#file, snapshot));
    return this.#saving;
  }
}

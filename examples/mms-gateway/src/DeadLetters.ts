/**
 * Dead letters (messages whose spool attempts ran out) and their Rejected reports. With
 * `maxAttempts` at its most (`ATTEMPTS_MAX`) a message fails by expiry or refusal instead, but a
 * spool written by an older gateway (5 attempts) may hold dead letters, and a gateway may still
 * be configured with a low `maxAttempts`: a message can then die without its handler seeing the
 * last failure (a crash during the last attempt, or a last lease that expired). A sweep reports
 * those, and a small durable file remembers which were reported, and when.
 */
import { readFile } from "node:fs/promises";
import type { DeadLetter } from "@spool/actors";
import { writeFileDurably } from "./DurableFile.js";
import type { GatewaySpool } from "./GatewaySpool.js";

/** How often dead letters are checked for a missing report. */
const SWEEP_MS = 1000;

/**
 * When a letter reported by a gateway that kept no time was reported: before every message, so
 * it counts as reported for any message under its seq (as it did then).
 */
const REPORTED_BEFORE_TIME_WAS_KEPT_MS = Number.MAX_SAFE_INTEGER;

/**
 * The dead letters whose Rejected report is queued, by seq, with when it was queued, kept
 * durably in a small file. Only letters still dead in the spool are kept (a purged one is
 * forgotten at the next sweep), so the file is bounded by the spool's dead letters.
 */
export class ReportedDeadLetters {
  readonly #file: string;
  /** seq → when its report was queued (ms since the epoch). */
  readonly #reported: Map<number, number>;
  #sweeping: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  /** The file lags behind `#reported` (a save failed, or letters were forgotten). */
  #unsaved = false;

  private constructor(file: string, reported: Map<number, number>) {
    this.#file = file;
    this.#reported = reported;
  }

  /** Opens the file: `[seq, reportedAtMs]` pairs, or bare seqs as older gateways wrote it. */
  static async open(file: string): Promise<ReportedDeadLetters> {
    const text = await readFile(file, "utf8").catch(() => "[]");
    const entries = JSON.parse(text) as (number | [number, number])[];
    const reported = new Map<number, number>();
    for (const entry of entries) {
      if (typeof entry === "number") reported.set(entry, REPORTED_BEFORE_TIME_WAS_KEPT_MS);
      else reported.set(entry[0], entry[1]);
    }
    return new ReportedDeadLetters(file, reported);
  }

  /**
   * Every second, reports the dead letters of `spool` not reported yet, with `report`;
   * `receivedAtMsOf` says when a letter's message was received, so a report made for another
   * message under the same seq (a spool recreated beside this file) does not count.
   */
  sweep(
    spool: GatewaySpool,
    report: (letter: DeadLetter) => Promise<void>,
    receivedAtMsOf: (letter: DeadLetter) => number,
  ): void {
    const once = async (): Promise<void> => {
      await this.#forgetUndead(spool);
      try {
        // Reading the letters costs a read each: only when some dead letter is not reported
        // (every one kept is still dead, so equal counts mean all are reported). A stream does
        // not count its dead letters: it reads them every sweep, a request or two each.
        const dead = spool.stats().messages?.dead;
        if (dead !== undefined && dead <= this.#reported.size) return;
        for (const letter of await spool.deadLetters()) {
          const reportedAtMs = this.#reported.get(letter.seq);
          if (reportedAtMs !== undefined && reportedAtMs >= receivedAtMsOf(letter)) continue;
          await report(letter);
          this.#reported.set(letter.seq, Date.now());
          this.#unsaved = true;
        }
      } finally {
        // Saved after the reports are queued: a crash in between reports twice, never not.
        if (this.#unsaved) await this.#save();
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

  /** Forgets the letters no longer dead (purged, or a seq of another spool). */
  async #forgetUndead(spool: GatewaySpool): Promise<void> {
    for (const seq of [...this.#reported.keys()]) {
      if ((await spool.messageState(seq)) === "dead") continue;
      this.#reported.delete(seq);
      this.#unsaved = true;
    }
  }

  /** Writes the file whole; a failure leaves it marked unsaved, for the next sweep. */
  async #save(): Promise<void> {
    await writeFileDurably(this.#file, JSON.stringify([...this.#reported]));
    this.#unsaved = false;
  }
}

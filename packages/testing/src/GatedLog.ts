/**
 * The log the harness (SynchronizerHarness.ts) puts in front of a {@link LogAdapter}: each
 * append waits at two gates the path opens or fails, as a disk's write and flush do
 * (SynchronizerRig.ts). The first ("write") stands before the log: opened, the batch goes to
 * the log, which calls `sent` once it handed every request over (the runtime's "submitted");
 * failed, the append rejects before the log saw it. The second ("flush") stands before the
 * log's acknowledgement: opened, the runtime hears the log's answer once it came; failed, it
 * hears the path's error whatever the log answers (the records may be in the log, unconfirmed,
 * as after a lost acknowledgement that outlasted the adapter's resends).
 *
 * It keeps the book of what the log acknowledged, so that a write confirmation can be checked
 * against it: confirmed only after the log acknowledged the request, with the seq the log gave
 * it (not the synchronizer's own count) and the replicas it reported.
 */

import type { WrittenNotice } from "@spool/actors";
import type {
  LogAdapter,
  LogAppended,
  PlacedWrite,
  RequestId,
  Seq,
  WriteRequest,
} from "@spool/core";
import { type ConfirmationRule, Gates } from "./SynchronizerRig.js";

/** What the log acknowledged one request with. */
interface Acknowledged {
  readonly seq: Seq;
  readonly replicas: number;
}

/**
 * A {@link LogAdapter} whose appends wait at gates the path opens or fails.
 *
 * @example
 * const gated = new GatedLog(new MemoryLog());
 * const synchronizer = new Synchronizer({ adapter: gated, ... });
 */
export class GatedLog extends Gates implements LogAdapter, ConfirmationRule {
  readonly kind = "log";
  readonly name: string;
  /** Each request the log acknowledged, by id. */
  readonly acknowledged = new Map<RequestId, Acknowledged>();
  /** The first broken promise of the log itself (seqs missing, reused or out of order). */
  violation: string | undefined;
  readonly #base: LogAdapter;
  /** Every append handed to the log, settled or not: waited for before the log closes. */
  readonly #appends: Promise<unknown>[] = [];
  /** Which request each seq was given to: a seq given twice is a broken log. */
  readonly #owners = new Map<Seq, RequestId>();

  constructor(base: LogAdapter) {
    super();
    this.#base = base;
    this.name = `gated ${base.name}`;
  }

  append(requests: readonly WriteRequest[], sent: () => void): Promise<LogAppended> {
    return this.hold("write", () => {
      // An async function, so that a log that throws rejects instead.
      const appended = (async () => this.#base.append(requests, sent))();
      this.#appends.push(appended.catch(() => undefined));
      // The acknowledgement's gate stands from now on, in the order the appends came.
      return this.hold("flush", async () => {
        const answer = await appended;
        this.#note(requests, answer);
        return answer;
      });
    });
  }

  /** Books the log's answer for a batch and checks it keeps the log's promise. */
  #note(requests: readonly WriteRequest[], answer: LogAppended): void {
    const { seqs, replicas } = answer;
    if (seqs.length !== requests.length) {
      this.violation ??= `the log gave ${seqs.length} seqs for ${requests.length} requests`;
      return;
    }
    for (const [at, request] of requests.entries()) {
      const seq = seqs[at]!;
      const owner = this.#owners.get(seq);
      if (owner !== undefined && owner !== request.id) {
        this.violation ??= `the log gave seq ${seq} to requests ${owner} and ${request.id}`;
      }
      if (at > 0 && seq <= seqs[at - 1]!) {
        this.violation ??= `the log numbered a batch out of its order: ${seqs.join(", ")}`;
      }
      this.#owners.set(seq, request.id);
      this.acknowledged.set(request.id, { seq, replicas });
    }
  }

  /** A log confirms a request once it acknowledged it, with its seq and its replicas. */
  readonly unconfirmable = (write: PlacedWrite, notice: WrittenNotice): string | undefined => {
    const { id } = write.request;
    const acknowledged = this.acknowledged.get(id);
    if (acknowledged === undefined) return `request ${id} confirmed before the log acknowledged it`;
    if (write.seq !== acknowledged.seq) {
      return `request ${id} confirmed with seq ${write.seq}, the log gave it ${acknowledged.seq}`;
    }
    if (notice.replicas !== acknowledged.replicas) {
      return `request ${id} confirmed on ${notice.replicas} replicas, the log said ${acknowledged.replicas}`;
    }
    // A log holds no async writes: every confirmation is of a replicated record.
    if (notice.level !== "flushed") return `request ${id} confirmed as ${notice.level}`;
    return undefined;
  };

  /** Resolves once every append handed to the log settled (its result is not needed). */
  async settled(): Promise<void> {
    await Promise.all(this.#appends);
  }

  close(): Promise<void> {
    return this.#base.close();
  }
}

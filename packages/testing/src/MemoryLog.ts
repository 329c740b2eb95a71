/**
 * A replicated log in memory, for tests: the smallest {@link LogAdapter} that keeps the log's
 * promises, and the reference the log conformance suite (LogAdapterSuite.ts) is run against.
 * It numbers appends from 1, keeps a copy of each payload, and delivers each append with a
 * message id, as a JetStream publish carries one: a message whose id it already stored is not
 * stored again, and its acknowledgement names the seq it got the first time. It can be told to
 * lose acknowledgements (the append is stored, the adapter hears nothing and sends it again)
 * and to refuse every append from then on (a full or sealed log).
 */

import {
  FlushFailed,
  type LogAdapter,
  type LogAppended,
  type Seq,
  seq,
  type WriteRequest,
} from "@spool/core";

/**
 * Sends of one message before the append fails: a lost acknowledgement is sent again at once
 * (no network to wait for), and more than this many lost in a row is a log that is gone.
 */
const SENDS_MAX = 8;

/**
 * A log in memory.
 *
 * @example
 * const log = new MemoryLog();
 * const { seqs } = await log.append(requests, () => undefined); // [seq(1), seq(2), ...]
 * log.read(seqs[0]); // the first request's payload
 */
export class MemoryLog implements LogAdapter {
  readonly kind = "log";
  readonly name = "memory log";
  /** The payload stored under each seq: seq n at index n - 1. */
  readonly #records: Uint8Array[] = [];
  /** The seq each message id was stored under: a message sent again is stored once. */
  readonly #stored = new Map<string, Seq>();
  /** Appends so far: a message's id is its append's number and its place in the batch. */
  #appends = 0;
  #acknowledgementsToLose = 0;
  #acknowledgementsLost = 0;
  #refusal: FlushFailed | undefined;
  #closed = false;

  /** How many records the log holds. */
  get recordCount(): number {
    return this.#records.length;
  }

  /** How many acknowledgements it lost (each one's message was sent again). */
  get acknowledgementsLost(): number {
    return this.#acknowledgementsLost;
  }

  /** The payload stored under `at`, or undefined when the log holds none there. */
  read(at: Seq): Uint8Array | undefined {
    return this.#records[at - 1]?.slice();
  }

  /** Loses the acknowledgement of each of the next `count` messages it stores. */
  loseAcknowledgements(count: number): void {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count: ${count}`);
    this.#acknowledgementsToLose += count;
  }

  /**
   * Refuses every append from now on with `FlushFailed` (code `EREFUSED`, as a full or sealed
   * log answers); what it holds stays readable.
   */
  refuse(): void {
    this.#refusal ??= this.#failure("EREFUSED", 0);
  }

  async append(requests: readonly WriteRequest[], sent: () => void): Promise<LogAppended> {
    if (this.#closed) throw this.#failure("ECLOSED", 0);
    const batch = ++this.#appends;
    sent();
    // The log's answer comes in a later turn, as a network's would.
    await Promise.resolve();
    if (this.#refusal !== undefined) throw this.#refusal;
    const seqs = requests.map((request, at) => this.#deliver(`${batch}.${at}`, request.payload));
    return { seqs, replicas: 1 };
  }

  /** Sends one message until its acknowledgement comes back, at most {@link SENDS_MAX} times. */
  #deliver(id: string, payload: Uint8Array): Seq {
    for (let sends = 1; sends <= SENDS_MAX; sends += 1) {
      const stored = this.#store(id, payload);
      if (this.#acknowledgementsToLose === 0) return stored;
      this.#acknowledgementsToLose -= 1;
      this.#acknowledgementsLost += 1;
    }
    throw this.#failure("ETIMEDOUT", payload.byteLength);
  }

  /** The log's typed error: where it stood (its record count) and why. */
  #failure(code: string, byteSize: number): FlushFailed {
    const offset = this.#records.length;
    return new FlushFailed({ file: "memory log", offset, byteSize, code, cause: undefined });
  }

  /** Stores a message unless its id was stored already; its seq either way. */
  #store(id: string, payload: Uint8Array): Seq {
    const known = this.#stored.get(id);
    if (known !== undefined) return known;
    // A copy: the writer's buffer is the writer's to reuse once its append resolved.
    this.#records.push(payload.slice());
    const stored = seq(this.#records.length);
    this.#stored.set(id, stored);
    return stored;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

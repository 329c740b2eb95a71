/**
 * Where dead letters go when the segment holding their record is reclaimed: a small document
 * (`dead-letters.json`) rewritten atomically and durably on every change. Dead letters are rare
 * (a message that failed `maxAttempts` times), so a document read whole on open is enough; the
 * segments around them can then be deleted like any other done segment.
 */
import { type FlushAdapter, type Seq, SpoolCorrupt } from "@spool/core";

/** The store's file name in the spool directory. @example DEAD_LETTERS_FILE_NAME */
export const DEAD_LETTERS_FILE_NAME = "dead-letters.json";

const FORMAT = "spool-dead-letters";
const VERSION = 1;

/** A dead letter kept outside the data segments. */
export interface StoredDeadLetter {
  readonly seq: Seq;
  readonly attempts: number;
  readonly payload: Uint8Array;
}

interface Document {
  readonly format: string;
  readonly version: number;
  readonly letters: readonly { seq: number; attempts: number; payload: string }[];
}

/** The dead letters whose segments are gone. */
export class DeadLetterStore {
  readonly #adapter: FlushAdapter;
  readonly #letters = new Map<number, StoredDeadLetter>();

  private constructor(adapter: FlushAdapter) {
    this.#adapter = adapter;
  }

  /** Reads the store of the spool the adapter is open on (empty when there is none). */
  static async open(adapter: FlushAdapter): Promise<DeadLetterStore> {
    const store = new DeadLetterStore(adapter);
    const text = await adapter.readManifest(DEAD_LETTERS_FILE_NAME);
    if (text === null) return store;
    const corrupt = (reason: string) =>
      new SpoolCorrupt({ file: DEAD_LETTERS_FILE_NAME, offset: 0, reason });
    let parsed: Partial<Document>;
    try {
      parsed = JSON.parse(text) as Partial<Document>;
    } catch {
      throw corrupt("not JSON");
    }
    if (parsed.format !== FORMAT || parsed.version !== VERSION || !Array.isArray(parsed.letters)) {
      throw corrupt(`not a ${FORMAT} document of version ${VERSION}`);
    }
    for (const letter of parsed.letters) {
      if (!Number.isSafeInteger(letter.seq) || typeof letter.payload !== "string") {
        throw corrupt("a letter without a seq or payload");
      }
      store.#letters.set(letter.seq, {
        seq: letter.seq as Seq,
        attempts: letter.attempts,
        payload: new Uint8Array(Buffer.from(letter.payload, "base64")),
      });
    }
    return store;
  }

  has(seq: number): boolean {
    return this.#letters.has(seq);
  }

  get(seq: number): StoredDeadLetter | undefined {
    return this.#letters.get(seq);
  }

  /** The stored dead letters, in seq order. */
  list(): StoredDeadLetter[] {
    return [...this.#letters.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Keeps these letters; durable when it resolves. */
  async add(letters: readonly StoredDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    for (const letter of letters) this.#letters.set(letter.seq, letter);
    await this.#persist();
  }

  /** Forgets a letter; durable when it resolves. Returns whether it was here. */
  async remove(seq: number): Promise<boolean> {
    if (!this.#letters.delete(seq)) return false;
    await this.#persist();
    return true;
  }

  async #persist(): Promise<void> {
    const document: Document = {
      format: FORMAT,
      version: VERSION,
      letters: this.list().map((letter) => ({
        seq: letter.seq,
        attempts: letter.attempts,
        payload: Buffer.from(letter.payload).toString("base64"),
      })),
    };
    await this.#adapter.writeManifest(`${JSON.stringify(document)}\n`, DEAD_LETTERS_FILE_NAME);
  }
}

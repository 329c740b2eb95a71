// The consumer queue's priority queue of message seqs (ready ones by seq, waiting ones by due
// time), apart so that ConsumerQueue.ts holds only the queue's rules. Not API.

/**
 * A small binary min-heap of (key, seq) pairs, keys fixed when pushed. It runs per message, so
 * it sifts with plain variables (no swap arrays to allocate).
 */
export class KeyedHeap {
  readonly #keys: number[] = [];
  readonly #seqs: number[] = [];

  get size(): number {
    return this.#seqs.length;
  }

  push(key: number, seq: number): void {
    const keys = this.#keys;
    const seqs = this.#seqs;
    let at = seqs.length;
    keys.push(key);
    seqs.push(seq);
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const parentKey = keys[parent]!;
      const parentSeq = seqs[parent]!;
      if (parentKey < key || (parentKey === key && parentSeq <= seq)) break;
      keys[at] = parentKey;
      seqs[at] = parentSeq;
      at = parent;
    }
    keys[at] = key;
    seqs[at] = seq;
  }

  /** The smallest pair's key, or undefined when empty. */
  peekKey(): number | undefined {
    return this.#keys[0];
  }

  /** The smallest pair's seq, or undefined when empty. */
  peekSeq(): number | undefined {
    return this.#seqs[0];
  }

  pop(): void {
    const keys = this.#keys;
    const seqs = this.#seqs;
    const lastKey = keys.pop();
    const lastSeq = seqs.pop();
    const size = seqs.length;
    if (size === 0 || lastKey === undefined || lastSeq === undefined) return;
    let at = 0;
    for (;;) {
      const left = at * 2 + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (
        right < size &&
        (keys[right]! < keys[left]! || (keys[right] === keys[left] && seqs[right]! < seqs[left]!))
      ) {
        child = right;
      }
      const childKey = keys[child]!;
      const childSeq = seqs[child]!;
      if (lastKey < childKey || (lastKey === childKey && lastSeq <= childSeq)) break;
      keys[at] = childKey;
      seqs[at] = childSeq;
      at = child;
    }
    keys[at] = lastKey;
    seqs[at] = lastSeq;
  }
}

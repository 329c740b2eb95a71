/**
 * A writer thread's request ring: its part of the synchronizer's intake, in a SharedArrayBuffer
 * shared by the thread (the one producer) and the spool's thread (the one consumer). The thread
 * copies each request group into it once, under claim 34's shared lock, and its receipt is the
 * ring taking the group; the spool's thread drains it into the synchronizer without a message
 * per group, waking on the tail word with `Atomics.waitAsync`.
 *
 * Layout: a header of Int32 words (the tail, bytes published by the producer; the head, bytes
 * the consumer took; both free-running modulo 2^32), then a data region of a power-of-two size.
 * The data holds entries, each 8-aligned and contiguous (none crosses the region's end):
 * - `wrap` {byteSize}: the rest of the region is unused; the next entry is at its start.
 * - `group` {count, payloadByteSize}: a request group of `count` requests follows.
 * - `request` {remoteId, payloadByteSize, durability} and the payload's first bytes.
 * - `more`: further bytes of the current request's payload.
 * A payload may be split over entries, so a ring of any size carries a request of any size: a
 * request larger than the free space is written as far as it fits and the rest waits for the
 * consumer to make room.
 */
import { type Durability, InvariantViolation } from "@spool/core";

/** Bytes of the header (two words used; a cache line, so the data does not share it). */
const HEADER_BYTE_SIZE = 64;
const TAIL = 0;
const HEAD = 1;

const KIND_WRAP = 1;
const KIND_GROUP = 2;
const KIND_REQUEST = 3;
const KIND_MORE = 4;

const WRAP_HEADER_BYTE_SIZE = 8;
const GROUP_HEADER_BYTE_SIZE = 24;
const REQUEST_HEADER_BYTE_SIZE = 24;
const MORE_HEADER_BYTE_SIZE = 8;
const ALIGNMENT = 8;

/**
 * The data region of a ring: 4 MiB. At 1 KiB a record that is about 4,000 requests, over 100
 * groups of the bench's 256-writer load spread over 8 threads; a request larger than the ring
 * still passes, in pieces.
 */
export const REQUEST_RING_DATA_BYTE_SIZE = 4 * 1024 * 1024;

/**
 * The most payload bytes one ring group carries (a larger request group leaves as several):
 * the spool's thread copies a group's payloads into one buffer of its size, so this bounds
 * that allocation (beyond a single request, which may be as large as the spool allows).
 */
export const RING_GROUP_PAYLOAD_BYTE_SIZE_MAX = 16 * 1024 * 1024;

// Longer than a writer waits for room (the consumer drains every event-loop turn); only holds
// the writer thread's event loop open, since a pending waitAsync does not.
const KEEP_ALIVE_MS = 2 ** 31 - 1;

const align = (byteSize: number): number => (byteSize + ALIGNMENT - 1) & ~(ALIGNMENT - 1);

/** A new ring's buffer: `dataByteSize` (a power of two, at least 64) of data after the header. */
export function requestRingBuffer(dataByteSize = REQUEST_RING_DATA_BYTE_SIZE): SharedArrayBuffer {
  if (
    !Number.isInteger(dataByteSize) ||
    dataByteSize < 64 ||
    (dataByteSize & (dataByteSize - 1)) !== 0
  ) {
    throw new RangeError(
      `a request ring's data is a power of two of 64 bytes or more, not ${dataByteSize}`,
    );
  }
  return new SharedArrayBuffer(HEADER_BYTE_SIZE + dataByteSize);
}

/** One request as the writer thread puts it in the ring. */
export interface RingRequest {
  readonly id: number;
  readonly payload: Uint8Array;
  readonly durability: Durability;
}

/** The ring's two ends and its data, as either side sees them. */
class RingView {
  readonly words: Int32Array;
  readonly data: Uint8Array;
  readonly view: DataView;
  readonly capacity: number;

  constructor(buffer: SharedArrayBuffer) {
    const capacity = buffer.byteLength - HEADER_BYTE_SIZE;
    if (capacity < 64 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError("not a request ring's buffer (see requestRingBuffer)");
    }
    this.capacity = capacity;
    this.words = new Int32Array(buffer, 0, HEADER_BYTE_SIZE / 4);
    this.data = new Uint8Array(buffer, HEADER_BYTE_SIZE, capacity);
    this.view = new DataView(buffer, HEADER_BYTE_SIZE, capacity);
  }

  /** The position's offset in the data region (positions run modulo 2^32). */
  offsetOf(position: number): number {
    return position & (this.capacity - 1);
  }
}

/** Where a group being written has got to. */
interface Cursor {
  readonly groups: readonly (readonly RingRequest[])[];
  group: number;
  /** The next request of the current group, -1 before its `group` entry. */
  request: number;
  /** Payload bytes of the current request already written, -1 before its `request` entry. */
  written: number;
  readonly done: () => void;
}

/**
 * The writer thread's end: one producer. It writes a group's entries, publishes the tail once
 * the group is whole (and whenever it must wait for room), and notifies the consumer.
 *
 * @example
 * const ring = new RequestRingWriter(buffer);
 * ring.write(requests, () => receipt());
 */
export class RequestRingWriter {
  readonly #ring: RingView;
  /** The tail as written so far (published or not). */
  #tail: number;
  #cursor: Cursor | undefined;
  #closed = false;
  #keepAlive: ReturnType<typeof setTimeout> | undefined;

  constructor(buffer: SharedArrayBuffer) {
    this.#ring = new RingView(buffer);
    this.#tail = Atomics.load(this.#ring.words, TAIL) >>> 0;
  }

  /**
   * Copies `requests` into the ring and calls `done` once all of them are published: at once
   * when there is room, else once the consumer made room. One group at a time (the caller
   * holds claim 34's lock meanwhile).
   */
  write(requests: readonly RingRequest[], done: () => void): void {
    // The caller holds claim 34's lock from a group's send to its receipt: one group at a time.
    if (this.#cursor !== undefined) {
      throw new InvariantViolation({ message: "a second group while the ring writes one" });
    }
    if (this.#closed) throw new InvariantViolation({ message: "a group for a closed ring" });
    if (requests.length === 0) {
      done();
      return;
    }
    this.#cursor = { groups: splitGroups(requests), group: 0, request: -1, written: -1, done };
    this.#resume();
  }

  /** Stops: a group waiting for room is dropped (its requests fail elsewhere). */
  close(): void {
    this.#closed = true;
    this.#cursor = undefined;
    clearTimeout(this.#keepAlive);
  }

  #resume = (): void => {
    const cursor = this.#cursor;
    if (cursor === undefined || this.#closed) return;
    while (cursor.group < cursor.groups.length) {
      if (!this.#place(cursor)) {
        this.#publish();
        this.#waitForRoom();
        return;
      }
    }
    this.#publish();
    this.#cursor = undefined;
    cursor.done();
  };

  /** Places the cursor's next entry; false when the ring has no room for it now. */
  #place(cursor: Cursor): boolean {
    const group = cursor.groups[cursor.group]!;
    if (cursor.request === -1) {
      const at = this.#reserve(GROUP_HEADER_BYTE_SIZE, GROUP_HEADER_BYTE_SIZE);
      if (at === -1) return false;
      let payloadByteSize = 0;
      for (const request of group) payloadByteSize += request.payload.byteLength;
      const { view } = this.#ring;
      view.setUint32(at, GROUP_HEADER_BYTE_SIZE, true);
      view.setUint32(at + 4, KIND_GROUP, true);
      view.setUint32(at + 8, group.length, true);
      view.setUint32(at + 12, 0, true);
      view.setFloat64(at + 16, payloadByteSize, true);
      this.#tail = (this.#tail + GROUP_HEADER_BYTE_SIZE) >>> 0;
      cursor.request = 0;
      cursor.written = -1;
      return true;
    }
    const request = group[cursor.request]!;
    const { payload } = request;
    const first = cursor.written === -1;
    const headerByteSize = first ? REQUEST_HEADER_BYTE_SIZE : MORE_HEADER_BYTE_SIZE;
    const remaining = payload.byteLength - Math.max(0, cursor.written);
    // At least the header and one byte of what is left (or the header alone for no bytes).
    const at = this.#reserve(headerByteSize + Math.min(1, remaining), headerByteSize + remaining);
    if (at === -1) return false;
    const room = this.#roomAt(at);
    const chunk = Math.min(remaining, room - headerByteSize);
    const from = Math.max(0, cursor.written);
    const { view, data } = this.#ring;
    view.setUint32(at, headerByteSize + chunk, true);
    view.setUint32(at + 4, first ? KIND_REQUEST : KIND_MORE, true);
    if (first) {
      view.setFloat64(at + 8, request.id, true);
      view.setUint32(at + 16, payload.byteLength, true);
      view.setUint32(at + 20, request.durability === "async" ? 1 : 0, true);
    }
    data.set(payload.subarray(from, from + chunk), at + headerByteSize);
    this.#tail = (this.#tail + align(headerByteSize + chunk)) >>> 0;
    cursor.written = from + chunk;
    if (cursor.written === payload.byteLength) {
      cursor.request += 1;
      cursor.written = -1;
      if (cursor.request === group.length) {
        cursor.group += 1;
        cursor.request = -1;
      }
    }
    return true;
  }

  /** Contiguous free bytes at data offset `at` (the one being reserved). */
  #roomAt(at: number): number {
    const { capacity, words } = this.#ring;
    const free = capacity - ((this.#tail - (Atomics.load(words, HEAD) >>> 0)) >>> 0);
    return Math.min(free, capacity - at);
  }

  /**
   * The data offset of an entry of at least `least` bytes (up to `most`), wrapping to the
   * region's start when the end is too near for `least`, or for `most` where the start has
   * room for all of it; -1 when the ring has no room for `least` now.
   */
  #reserve(least: number, most: number): number {
    const { capacity, words, view } = this.#ring;
    const need = align(least);
    const whole = align(most);
    for (;;) {
      const free = capacity - ((this.#tail - (Atomics.load(words, HEAD) >>> 0)) >>> 0);
      const at = this.#ring.offsetOf(this.#tail);
      const toEnd = capacity - at;
      const wrapFits = toEnd < whole && free - toEnd >= whole;
      if (!wrapFits && Math.min(free, toEnd) >= need) return at;
      // The wrap entry takes the rest of the region, so it needs all of it free.
      if ((!wrapFits && toEnd >= need) || free < toEnd) return -1;
      view.setUint32(at, toEnd, true);
      view.setUint32(at + 4, KIND_WRAP, true);
      this.#tail = (this.#tail + toEnd) >>> 0;
    }
  }

  #publish(): void {
    const { words } = this.#ring;
    if (Atomics.load(words, TAIL) >>> 0 === this.#tail) return;
    Atomics.store(words, TAIL, this.#tail | 0);
    Atomics.notify(words, TAIL);
  }

  /** Waits for the consumer to move the head, then goes on with the group. */
  #waitForRoom(): void {
    const { words } = this.#ring;
    const head = Atomics.load(words, HEAD);
    const wait = Atomics.waitAsync(words, HEAD, head);
    if (!wait.async) {
      setImmediate(this.#resume);
      return;
    }
    this.#keepAlive = setTimeout(() => {}, KEEP_ALIVE_MS);
    void wait.value.then(() => {
      clearTimeout(this.#keepAlive);
      this.#resume();
    });
  }
}

/** Splits a request group so that each part's payloads fit one spool-side buffer. */
function splitGroups(requests: readonly RingRequest[]): (readonly RingRequest[])[] {
  let total = 0;
  for (const request of requests) total += request.payload.byteLength;
  if (total <= RING_GROUP_PAYLOAD_BYTE_SIZE_MAX) return [requests];
  const groups: RingRequest[][] = [];
  let current: RingRequest[] = [];
  let bytes = 0;
  for (const request of requests) {
    const size = request.payload.byteLength;
    if (current.length > 0 && bytes + size > RING_GROUP_PAYLOAD_BYTE_SIZE_MAX) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(request);
    bytes += size;
  }
  groups.push(current);
  return groups;
}

/** A request as the spool's thread reads it out of the ring (its payload copied out). */
export interface ReadRequest {
  readonly id: number;
  readonly payload: Uint8Array;
  readonly durability: Durability;
}

/** The ring held what no writer writes: the peer is cut off. */
export class RingCorrupt extends Error {}

/** A group being read: its payloads' buffer, and its requests so far. */
interface GroupInProgress {
  readonly count: number;
  readonly buffer: Uint8Array;
  filled: number;
  readonly requests: ReadRequest[];
  /** Bytes of the last request's payload still to come. */
  pending: number;
}

/**
 * The spool's end: one consumer. {@link RequestRingReader.read} takes every published entry,
 * copying payloads out (so the room is free at once), hands each whole group on, and moves
 * the head.
 *
 * @example
 * const ring = new RequestRingReader(buffer, config.recordPayloadByteSizeMax);
 * ring.read((group) => deliver(group));
 */
export class RequestRingReader {
  readonly #ring: RingView;
  readonly #payloadByteSizeMax: number;
  #head: number;
  #group: GroupInProgress | undefined;

  constructor(buffer: SharedArrayBuffer, payloadByteSizeMax: number) {
    this.#ring = new RingView(buffer);
    this.#payloadByteSizeMax = payloadByteSizeMax;
    this.#head = Atomics.load(this.#ring.words, HEAD) >>> 0;
  }

  /** The tail the last {@link read} reached: the value to wait on for more. */
  get tail(): number {
    return this.#head | 0;
  }

  /** The tail word, for `Atomics.waitAsync` and `Atomics.notify`. */
  get words(): Int32Array {
    return this.#ring.words;
  }

  /**
   * Reads every published entry, calling `onGroup` for each group once whole. Throws
   * {@link RingCorrupt} for entries no writer writes (the head is left where it was).
   */
  read(onGroup: (requests: readonly ReadRequest[]) => void): void {
    const { words, capacity } = this.#ring;
    const tail = Atomics.load(words, TAIL) >>> 0;
    const published = (tail - this.#head) >>> 0;
    if (published === 0) return;
    if (published > capacity || published % ALIGNMENT !== 0) {
      throw new RingCorrupt(`the tail is ${published} bytes past the head`);
    }
    const whole: (readonly ReadRequest[])[] = [];
    let head = this.#head;
    while (head !== tail) {
      head = (head + this.#entry(head, (tail - head) >>> 0, whole)) >>> 0;
    }
    this.#head = head;
    Atomics.store(words, HEAD, head | 0);
    Atomics.notify(words, HEAD);
    for (const group of whole) onGroup(group);
  }

  /** Reads the entry at `position` (within `published` bytes); returns its aligned size. */
  #entry(position: number, published: number, whole: (readonly ReadRequest[])[]): number {
    const { view, data, capacity } = this.#ring;
    const at = this.#ring.offsetOf(position);
    const byteSize = view.getUint32(at, true);
    const kind = view.getUint32(at + 4, true);
    const size = align(byteSize);
    if (byteSize < WRAP_HEADER_BYTE_SIZE || size > published || at + byteSize > capacity) {
      throw new RingCorrupt(`an entry of ${byteSize} bytes at ${at}`);
    }
    if (kind === KIND_WRAP) {
      if (at + byteSize !== capacity) throw new RingCorrupt(`a wrap short of the end at ${at}`);
      return size;
    }
    if (kind === KIND_GROUP) {
      this.#startGroup(at, byteSize);
      return size;
    }
    const group = this.#group;
    if (group === undefined) throw new RingCorrupt(`a request outside a group at ${at}`);
    let bytesAt = at + MORE_HEADER_BYTE_SIZE;
    if (kind === KIND_REQUEST) {
      bytesAt = at + REQUEST_HEADER_BYTE_SIZE;
      this.#startRequest(group, at, byteSize);
    } else if (kind !== KIND_MORE || group.pending === 0) {
      throw new RingCorrupt(`an entry of kind ${kind} at ${at}`);
    }
    const chunk = at + byteSize - bytesAt;
    if (chunk > group.pending) throw new RingCorrupt(`more payload than announced at ${at}`);
    group.buffer.set(data.subarray(bytesAt, bytesAt + chunk), group.filled);
    group.filled += chunk;
    group.pending -= chunk;
    if (group.pending === 0 && group.requests.length === group.count) {
      if (group.filled !== group.buffer.byteLength) {
        throw new RingCorrupt(`a group's payloads fell short of its size at ${at}`);
      }
      whole.push(group.requests);
      this.#group = undefined;
    }
    return size;
  }

  #startGroup(at: number, byteSize: number): void {
    const { view } = this.#ring;
    const count = view.getUint32(at + 8, true);
    const payloadByteSize = view.getFloat64(at + 16, true);
    const bound = Math.max(RING_GROUP_PAYLOAD_BYTE_SIZE_MAX, this.#payloadByteSizeMax);
    if (this.#group !== undefined) throw new RingCorrupt(`a group inside a group at ${at}`);
    if (byteSize !== GROUP_HEADER_BYTE_SIZE || count === 0) {
      throw new RingCorrupt(`a group of ${count} at ${at}`);
    }
    if (!Number.isSafeInteger(payloadByteSize) || payloadByteSize < 0 || payloadByteSize > bound) {
      throw new RingCorrupt(`a group of ${payloadByteSize} payload bytes at ${at}`);
    }
    this.#group = {
      count,
      buffer: new Uint8Array(payloadByteSize),
      filled: 0,
      requests: [],
      pending: 0,
    };
  }

  #startRequest(group: GroupInProgress, at: number, byteSize: number): void {
    const { view } = this.#ring;
    if (group.pending !== 0 || group.requests.length === group.count) {
      throw new RingCorrupt(`a request before the last one's payload ended at ${at}`);
    }
    if (byteSize < REQUEST_HEADER_BYTE_SIZE) throw new RingCorrupt(`a short request at ${at}`);
    const id = view.getFloat64(at + 8, true);
    const payloadByteSize = view.getUint32(at + 16, true);
    const durabilityCode = view.getUint32(at + 20, true);
    if (!Number.isSafeInteger(id) || durabilityCode > 1) {
      throw new RingCorrupt(`a request with id ${id}, durability ${durabilityCode} at ${at}`);
    }
    if (group.filled + payloadByteSize > group.buffer.byteLength) {
      throw new RingCorrupt(`a request past its group's payload bytes at ${at}`);
    }
    const payload = group.buffer.subarray(group.filled, group.filled + payloadByteSize);
    const durability: Durability = durabilityCode === 1 ? "async" : "flushed";
    group.requests.push({ id, payload, durability });
    group.pending = payloadByteSize;
  }
}

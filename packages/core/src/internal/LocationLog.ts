// Where the consumer queue's messages lie, apart so that ConsumerQueue.ts holds only the
// queue's rules. Not API.
import { InvariantViolation } from "../Assert.js";
import type { MessageLocation } from "../ConsumerQueue.js";
import type { ByteOffset, SegmentNumber, Seq } from "../Units.js";

/**
 * Locations of durable messages in seq order, in columns of typed arrays: 24 bytes a message
 * and no object per message, so a backlog of millions costs tens of MiB, not a heap of objects.
 */
export class LocationLog {
  #base = 0;
  #count = 0;
  #segments = new Uint32Array(1024);
  #offsets = new Uint32Array(1024);
  #sizes = new Uint32Array(1024);
  #times = new Float64Array(1024);

  /** One past the last seq held (the next one to push). */
  get end(): number {
    return this.#base + this.#count;
  }

  push(location: MessageLocation): void {
    this.pushFields(
      location.seq,
      location.segment,
      location.offset,
      location.payloadByteSize,
      location.enqueuedAtMs,
    );
  }

  /** {@link push} without a location object: appends call it per message. */
  pushFields(
    messageSeq: number,
    segment: number,
    offset: number,
    payloadByteSize: number,
    enqueuedAtMs: number,
  ): void {
    if (this.#count === 0) this.#base = messageSeq;
    else if (messageSeq !== this.end) {
      throw new InvariantViolation({
        message: `location of seq ${messageSeq} pushed after seq ${this.end - 1}`,
      });
    }
    if (this.#count === this.#segments.length) this.#grow();
    const at = this.#count;
    this.#segments[at] = segment;
    this.#offsets[at] = offset;
    this.#sizes[at] = payloadByteSize;
    this.#times[at] = enqueuedAtMs;
    this.#count += 1;
  }

  get(messageSeq: number): MessageLocation {
    const at = messageSeq - this.#base;
    if (at < 0 || at >= this.#count) {
      throw new InvariantViolation({ message: `no location for seq ${messageSeq}` });
    }
    return {
      seq: messageSeq as Seq,
      segment: this.#segments[at]! as SegmentNumber,
      offset: this.#offsets[at]! as ByteOffset,
      payloadByteSize: this.#sizes[at]!,
      enqueuedAtMs: this.#times[at]!,
    };
  }

  /** Forgets locations below `messageSeq` once they are a large enough share to be worth it. */
  dropBefore(messageSeq: number): void {
    const drop = Math.min(messageSeq - this.#base, this.#count);
    if (drop < 4096 || drop * 2 < this.#segments.length) return;
    const keep = this.#count - drop;
    this.#segments.copyWithin(0, drop, this.#count);
    this.#offsets.copyWithin(0, drop, this.#count);
    this.#sizes.copyWithin(0, drop, this.#count);
    this.#times.copyWithin(0, drop, this.#count);
    this.#base += drop;
    this.#count = keep;
  }

  #grow(): void {
    const size = this.#segments.length * 2;
    const grown = <T extends Uint32Array | Float64Array>(from: T, into: T): T => {
      into.set(from);
      return into;
    };
    this.#segments = grown(this.#segments, new Uint32Array(size));
    this.#offsets = grown(this.#offsets, new Uint32Array(size));
    this.#sizes = grown(this.#sizes, new Uint32Array(size));
    this.#times = grown(this.#times, new Float64Array(size));
  }
}

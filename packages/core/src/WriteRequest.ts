/**
 * A writer's request to the synchronizer (claims 1, 34, 64): append this payload.
 */
import type { ByteOffset, SegmentNumber, Seq, WriterId } from "./Units.js";

/**
 * How durable an append's confirmation must be.
 * - `flushed`: the batch was written and msync/fdatasync completed (the default).
 * - `async`: the batch was written through the map and an asynchronous flush was scheduled
 *   (claim 14); the bytes survive a process crash but not a power cut until that flush ends.
 *
 * @example
 * await writer.append(bytes, { durability: "async" });
 */
export type Durability = "flushed" | "async";

/**
 * Where a positioned write goes: an index entry's slot (claim 60). Appends have none; the
 * synchronizer places them at the log's tail.
 *
 * @example
 * const target: WriteTarget = { seq, segment, offset };
 */
export interface WriteTarget {
  /** The message the write is about. */
  readonly seq: Seq;
  readonly segment: SegmentNumber;
  readonly offset: ByteOffset;
}

/** A request's identity, unique within one spool. @example const id: RequestId = 1 as RequestId */
export type RequestId = number & { readonly __requestId: true };

/**
 * One append request as the synchronizer receives it.
 *
 * @example
 * const request: WriteRequest = { id, writerId, senderId, payload, durability: "flushed" };
 */
export interface WriteRequest {
  readonly id: RequestId;
  /** The writer handle that appended it; recorded in the record's header. */
  readonly writerId: WriterId;
  /**
   * The claim-34 writer (a thread or process) that sent it through the shared lock and receives
   * its write confirmation. Handles on one thread share their thread's sender.
   */
  readonly senderId: WriterId;
  /** An append's payload, or a positioned write's exact bytes. */
  readonly payload: Uint8Array;
  readonly durability: Durability;
  /** Set for a positioned write (its bytes go there as they are); absent for an append. */
  readonly target?: WriteTarget | undefined;
}

/**
 * The strongest of two durability levels (`flushed` beats `async`).
 *
 * @example
 * strongerDurability("async", "flushed") // "flushed"
 */
export function strongerDurability(left: Durability, right: Durability): Durability {
  return left === "flushed" || right === "flushed" ? "flushed" : "async";
}

/**
 * A writer's request to the synchronizer (claims 1, 34, 64): append this payload.
 */
import type { WriterId } from "./Units.js";

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
  readonly payload: Uint8Array;
  readonly durability: Durability;
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

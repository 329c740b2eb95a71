/**
 * Temporary storage (claims 16, 64-66): requests that arrived while a batch was being written,
 * or that did not fit the batch, wait here in arrival order for the next batch. It is bounded
 * by count and bytes; a request that finds it full is skipped and its writer resends it once
 * the current batch clears.
 */
import type { WriteRequest } from "./WriteRequest.js";

/** Parked requests, oldest first. Immutable. @example const storage = emptyStorage() */
export interface TemporaryStorage {
  readonly requests: readonly WriteRequest[];
  readonly byteSize: number;
}

/** Storage with nothing parked. @example emptyStorage().requests.length === 0 */
export function emptyStorage(): TemporaryStorage {
  return EMPTY;
}

const EMPTY: TemporaryStorage = { requests: [], byteSize: 0 };

/**
 * Parks requests at the back (the caller has checked the bounds).
 *
 * @example
 * const next = park(storage, [request]);
 */
export function park(storage: TemporaryStorage, parked: readonly WriteRequest[]): TemporaryStorage {
  if (parked.length === 0) return storage;
  let size = storage.byteSize;
  for (const request of parked) size += request.payload.byteLength;
  return { requests: [...storage.requests, ...parked], byteSize: size };
}

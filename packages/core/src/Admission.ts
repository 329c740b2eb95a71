/**
 * Claim 64's "determine whether to add the write request to the batch": each received request
 * is added, parked in temporary storage, or skipped. Pure: the synchronizer machine calls it in
 * an `assign`, once per drained mailbox (not once per request).
 */
import {
  type AppendCursor,
  addWrites,
  type Batch,
  type BatchExtent,
  extentOf,
  fitsBatch,
  type PlacedWrite,
  type Placement,
  type Refusal,
} from "./Batch.js";
import { recordByteSize } from "./Record.js";
import type { SpoolConfig } from "./SpoolConfig.js";
import { emptyStorage, park, type TemporaryStorage } from "./TemporaryStorage.js";
import {
  type ByteOffset,
  type ByteSize,
  byteOffset,
  byteSize,
  type SegmentNumber,
  type Seq,
  seq,
} from "./Units.js";
import type { WriteRequest } from "./WriteRequest.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What admission works on. @example const state: AdmissionState = { batch, storage, cursor, refusal: null, skipped: [] } */
export interface AdmissionState {
  readonly batch: Batch;
  readonly storage: TemporaryStorage;
  readonly cursor: AppendCursor;
  /** Set when a request did not fit the batch: the batch must be flushed before it can grow. */
  readonly refusal: Refusal | null;
  /** Requests skipped because temporary storage was full; their writers resend after the clear. */
  readonly skipped: readonly WriteRequest[];
  /** Skipped requests whose writers were told to resend, until the resend is out. */
  readonly resending: readonly WriteRequest[];
}

/**
 * The admission state with `changes` applied. Written out field by field: on Node 20 a spread
 * of the state cost more than the rest of admitting one request.
 *
 * @example
 * const next = changeAdmission(state, { refusal: null });
 */
export function changeAdmission(
  state: AdmissionState,
  changes: Partial<AdmissionState>,
): AdmissionState {
  const next: Mutable<AdmissionState> = {
    batch: state.batch,
    storage: state.storage,
    cursor: state.cursor,
    refusal: state.refusal,
    skipped: state.skipped,
    resending: state.resending,
  };
  const target = next as Record<string, unknown>;
  for (const key in changes) target[key] = changes[key as keyof AdmissionState];
  return next;
}

/**
 * Admits requests that arrived while the synchronizer was gathering a batch. Order is kept:
 * once one request is parked, every later one is parked behind it.
 *
 * @example
 * const next = admit(state, requests, nowMs, config);
 */
export function admit(
  state: AdmissionState,
  requests: readonly WriteRequest[],
  nowMs: number,
  config: SpoolConfig,
): AdmissionState {
  const holding = state.skipped.length > 0 || state.resending.length > 0;
  if (state.storage.requests.length > 0 || state.refusal !== null || holding) {
    return parkAll(state, requests, config);
  }
  const placed: PlacedWrite[] = [];
  // Admission runs per message: plain numbers and two scratch objects in the loop, one new
  // object per admitted write.
  let segment: number = state.cursor.segment;
  let offset: number = state.cursor.offset;
  let nextSeq: number = state.cursor.nextSeq;
  const extent: Mutable<BatchExtent> = extentOf(state.batch);
  const placement: Mutable<Placement> = {
    segment: state.cursor.segment,
    offset: state.cursor.offset,
    byteSize: byteSize(0),
  };
  let refusal: Refusal | null = null;
  let bytes: number = state.batch.byteSize;
  let index = 0;
  for (; index < requests.length; index++) {
    const request = requests[index]!;
    const { target } = request;
    let size: ByteSize;
    if (target === undefined) {
      size = recordByteSize(request.payload.byteLength);
      // A record never straddles two segments: one that would cross the end starts the next.
      const rolls = offset + size > config.segmentByteSize;
      placement.segment = (rolls ? segment + 1 : segment) as SegmentNumber;
      placement.offset = (rolls ? 0 : offset) as ByteOffset;
    } else {
      // A positioned write's bytes go where it says, as they are; the tail does not move.
      size = request.payload.byteLength as ByteSize;
      placement.segment = target.segment;
      placement.offset = target.offset;
    }
    placement.byteSize = size;
    const refused =
      boundsRefusal(state.batch, placed.length, bytes + size, config) ??
      fitsBatch(extent, placement, config);
    if (refused !== undefined) {
      refusal = refused;
      break;
    }
    bytes += size;
    placed.push({
      request,
      seq: target === undefined ? (nextSeq as Seq) : target.seq,
      segment: placement.segment,
      offset: placement.offset,
      byteSize: size,
    });
    if (target === undefined) {
      segment = placement.segment;
      offset = placement.offset + size;
      nextSeq += 1;
    }
    if (extent.empty) {
      extent.empty = false;
      extent.segment = placement.segment;
      extent.startOffset = placement.offset;
    }
    extent.endOffset = (placement.offset + size) as ByteOffset;
  }
  const cursor: AppendCursor = {
    segment: segment as SegmentNumber,
    offset: byteOffset(offset),
    nextSeq: seq(nextSeq),
  };
  const admitted = changeAdmission(state, {
    batch: addWrites(state.batch, placed, nowMs),
    cursor,
    refusal,
  });
  return index === requests.length ? admitted : parkAll(admitted, requests.slice(index), config);
}

/**
 * Whether a write of `bytesWith` total batch bytes would take a non-empty batch past
 * `batchCountMax` requests or `batchByteSizeMax` bytes (claims 8, 9): those bound a batch, they
 * do not only trigger its flush, so the excess waits in temporary storage for the next batch.
 * An empty batch takes any one write, so a record larger than `batchByteSizeMax` goes alone.
 */
function boundsRefusal(
  batch: Batch,
  placedCount: number,
  bytesWith: number,
  config: SpoolConfig,
): Refusal | undefined {
  const count = batch.writes.length + placedCount;
  if (count === 0) return undefined;
  if (config.batchCountMax !== null && count >= config.batchCountMax) return "maxCount";
  if (config.batchByteSizeMax !== null && bytesWith > config.batchByteSizeMax) return "maxBytes";
  return undefined;
}

/**
 * Parks every request (claims 64, 66): used while a batch is being written, and for requests
 * behind one that did not fit. A request that finds storage full is skipped.
 *
 * @example
 * const next = parkAll(state, requests, config);
 */
export function parkAll(
  state: AdmissionState,
  requests: readonly WriteRequest[],
  config: SpoolConfig,
): AdmissionState {
  if (requests.length === 0) return state;
  let count = state.storage.requests.length;
  let bytes = state.storage.byteSize;
  const toPark: WriteRequest[] = [];
  const skipped: WriteRequest[] = [];
  // Once a sender has a request skipped, its later requests are skipped too, so its resend
  // keeps its order: a smaller request must not slip into storage past a larger skipped one.
  // While its resend is out, only the resent requests themselves pass, and they are parked
  // even past the bounds (once: they were counted when first received), so a resend never
  // competes with parked requests for room and is never skipped twice in a row.
  const skippedSenders = new Set(state.skipped.map((request) => request.senderId));
  const resent = new Set(state.resending.map((request) => request.id));
  for (const request of state.resending) skippedSenders.add(request.senderId);
  for (const request of requests) {
    const fits =
      resent.has(request.id) ||
      (!skippedSenders.has(request.senderId) &&
        count < config.temporaryStorageCountMax &&
        bytes + request.payload.byteLength <= config.temporaryStorageByteSizeMax);
    if (fits) {
      toPark.push(request);
      count += 1;
      bytes += request.payload.byteLength;
    } else {
      skipped.push(request);
      skippedSenders.add(request.senderId);
    }
  }
  return changeAdmission(state, {
    storage: park(state.storage, toPark),
    skipped: skipped.length === 0 ? state.skipped : [...state.skipped, ...skipped],
  });
}

/**
 * Moves parked requests into the (new, empty) batch while they fit (claims 16, 65, 69); the
 * rest stay parked, in order (positioned writes in slot order).
 *
 * @example
 * const next = admitParked(state, nowMs, config);
 */
export function admitParked(
  state: AdmissionState,
  nowMs: number,
  config: SpoolConfig,
): AdmissionState {
  let parked = state.storage.requests;
  // Positioned writes (index entries) are taken in slot order, so the parked updates of
  // scattered slots form one ascending batch instead of one batch per turn of direction.
  if (parked.length > 1 && parked.every((request) => request.target !== undefined)) {
    parked = inSlotOrder(parked);
  }
  const emptied = changeAdmission(state, { storage: emptyStorage(), refusal: null });
  return admit(emptied, parked, nowMs, config);
}

/**
 * Positioned writes in slot order, round by round: every slot's first write in ascending slot
 * order, then every slot's second write, and so on. Two writes to one slot keep their order,
 * and a later one never blocks the ascending run of first writes.
 */
function inSlotOrder(requests: readonly WriteRequest[]): WriteRequest[] {
  const seen = new Map<string, number>();
  const ranked = requests.map((request, arrival) => {
    const { segment, offset } = request.target!;
    const key = `${segment}:${offset}`;
    const round = seen.get(key) ?? 0;
    seen.set(key, round + 1);
    return { request, round, segment, offset, arrival };
  });
  ranked.sort(
    (a, b) =>
      a.round - b.round || a.segment - b.segment || a.offset - b.offset || a.arrival - b.arrival,
  );
  return ranked.map((entry) => entry.request);
}

/**
 * What `append` takes, and the one place it becomes bytes. A payload is a string (stored as
 * UTF-8), an `ArrayBuffer` or `SharedArrayBuffer` (all of its bytes), or an `ArrayBufferView`
 * (a typed array of any element type, a `Buffer`, a `DataView`): the bytes the view shows
 * (`buffer`, `byteOffset`, `byteLength`), never its elements converted one by one. Anything else
 * is an {@link InvalidPayload}, returned rather than thrown so `append` can reject with it.
 */
import { InvalidPayload } from "./SpoolError.js";
import { describeValue } from "./ValueDescription.js";

/** What `append` takes. @example const payload: Payload = new Float64Array([1.5]) */
export type Payload = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

const encoder = new TextEncoder();

/**
 * The payload's bytes as a `Uint8Array` over the same memory (no copy; a string is encoded),
 * or the typed error for a value that is not a payload. Per append, so the usual case (a
 * `Uint8Array` or `Buffer`, returned as it is) costs three checks and no allocation.
 *
 * @example
 * payloadBytes(new Uint16Array([1])) // Uint8Array [1, 0]
 * payloadBytes(123) // InvalidPayload { received: "123" }
 */
export function payloadBytes(payload: unknown): Uint8Array | InvalidPayload {
  try {
    return viewOf(payload);
  } catch {
    // A revoked Proxy, or one whose traps throw, throws even at `instanceof`.
    return refused("an object that throws when inspected");
  }
}

function viewOf(payload: unknown): Uint8Array | InvalidPayload {
  if (typeof payload === "string") return encoder.encode(payload);
  // `isView` checks the internal slot, so a Proxy dressed as a Uint8Array is not taken for one.
  if (payload instanceof Uint8Array && ArrayBuffer.isView(payload)) {
    // A view over a detached buffer reads as empty; it is refused, not stored as nothing. Only
    // an empty view is checked, so the common case never touches `buffer`.
    if (payload.byteLength === 0 && isDetached(payload.buffer)) return refused("detached");
    return payload;
  }
  try {
    if (ArrayBuffer.isView(payload)) {
      return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    }
    if (isArrayBuffer(payload)) return new Uint8Array(payload);
  } catch {
    // A view or buffer whose memory was detached (transferred to another thread) throws here.
    return refused("detached");
  }
  return refused(describeValue(payload));
}

function refused(received: string): InvalidPayload {
  return new InvalidPayload({ received });
}

/** `instanceof` first (fast); the tag also catches buffers made in another realm. */
function isArrayBuffer(value: unknown): value is ArrayBuffer | SharedArrayBuffer {
  if (value instanceof ArrayBuffer) return true;
  if (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer) return true;
  const tag = Object.prototype.toString.call(value);
  return tag === "[object ArrayBuffer]" || tag === "[object SharedArrayBuffer]";
}

function isDetached(buffer: ArrayBufferLike): boolean {
  // Node 20's V8 has no `ArrayBuffer.prototype.detached`; constructing a view on a detached
  // buffer throws, on any other (even an empty one) it does not.
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

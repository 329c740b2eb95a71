/**
 * A request's body, read within its bounds: at most its declared length (or `bodyByteSizeMax`
 * without one) into one buffer of that size, and given up when it stalls (the body-idle timeout)
 * or its client goes away. What it may hold was reserved before the first byte (`InFlight.ts`).
 */
import type * as http from "node:http";
import { LimitExceeded } from "./Limits.js";

/** The body's Content-Length; undefined for a chunked body (or one without a valid length). */
export function declaredByteSize(request: http.IncomingMessage): number | undefined {
  const header = request.headers["content-length"];
  if (header === undefined || request.headers["transfer-encoding"] !== undefined) return undefined;
  // Node's parser has refused a malformed Content-Length already; this is its value.
  const value = Number(header);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** A body stopped arriving for longer than the body-idle timeout, or its client went away. */
export class BodyAbandoned extends Error {}

export interface BodyReading {
  /** The limit a body without a Content-Length is refused past (`bodyByteSizeMax`). */
  readonly byteSizeMax: number;
  /** The Content-Length: the body is read into one buffer of that size. */
  readonly declaredByteSize: number | undefined;
  /** The connection is destroyed when no body byte arrives for this long. */
  readonly idleTimeoutMs: number;
}

/**
 * The body, refused past `byteSizeMax` without reading the rest into memory, and its connection
 * destroyed when no byte arrives for `idleTimeoutMs`. Rejects with {@link BodyAbandoned} when
 * the client goes away or stalls, so the caller's reservation is always returned.
 *
 * @example
 * const body = await readBody(request, { byteSizeMax: 6 << 20, declaredByteSize: 1024,
 *   idleTimeoutMs: 10_000 });
 */
export function readBody(request: http.IncomingMessage, reading: BodyReading): Promise<Buffer> {
  const { byteSizeMax, declaredByteSize } = reading;
  return new Promise((resolve, reject) => {
    // One buffer of what was reserved, even for a chunked body (`byteSizeMax`): chunks joined at
    // the end would hold the body twice, past its reservation. Its pages become resident only as
    // bytes are written to them.
    const whole = Buffer.allocUnsafe(declaredByteSize ?? byteSizeMax);
    let byteSize = 0;
    let idle: NodeJS.Timeout | undefined;
    const stop = (error: Error) => {
      clearTimeout(idle);
      request.removeAllListeners("data");
      request.pause();
      reject(error);
    };
    const watch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        stop(new BodyAbandoned(`no body bytes for ${reading.idleTimeoutMs} ms`));
        request.socket.destroy();
      }, reading.idleTimeoutMs);
    };
    request.on("data", (chunk: Buffer) => {
      if (byteSize + chunk.byteLength > (declaredByteSize ?? byteSizeMax)) {
        stop(new LimitExceeded("bodyByteSizeMax", byteSizeMax));
        return;
      }
      chunk.copy(whole, byteSize);
      byteSize += chunk.byteLength;
      watch();
    });
    request.once("end", () => {
      clearTimeout(idle);
      resolve(whole.subarray(0, byteSize));
    });
    request.once("close", () => {
      if (!request.complete) stop(new BodyAbandoned("the client closed before the body's end"));
    });
    request.once("error", stop);
    watch();
  });
}

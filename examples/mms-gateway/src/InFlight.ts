/**
 * What submissions in progress hold: body bytes across all of them and of each VASP, and how
 * many each VASP has going. A submission reserves its share from its headers, before its body
 * is read, so memory never grows past the bound by a body's allocation; over a bound it is told
 * to retry later.
 */
import { DEFAULT_IN_FLIGHT_LIMITS, type InFlightLimits } from "./Limits.js";

/**
 * The limits in force: `given` over the defaults, `vaspBodyBytesMax` half of the `bodyBytesMax`
 * in force when not given (at least `bodyByteSizeMax`). Throws a RangeError when the largest
 * body allowed could never be reserved, since it would be told to retry later for ever.
 *
 * @example inFlightLimitsOf({ bodyBytesMax: 8 << 20 }, 1 << 20).vaspBodyBytesMax // 4 MiB
 */
export function inFlightLimitsOf(
  given: Partial<InFlightLimits>,
  bodyByteSizeMax: number,
): InFlightLimits {
  const bodyBytesMax = given.bodyBytesMax ?? DEFAULT_IN_FLIGHT_LIMITS.bodyBytesMax;
  const vaspBodyBytesMax =
    given.vaspBodyBytesMax ?? Math.max(bodyByteSizeMax, Math.floor(bodyBytesMax / 2));
  if (!(vaspBodyBytesMax >= bodyByteSizeMax)) {
    throw new RangeError(`inFlight.vaspBodyBytesMax (${vaspBodyBytesMax}) < bodyByteSizeMax`);
  }
  return { ...DEFAULT_IN_FLIGHT_LIMITS, ...given, vaspBodyBytesMax };
}

/** A submission's share, held until {@link Reservation.release} (which may be called twice). */
export interface Reservation {
  readonly granted: true;
  release(): void;
}

/** No share: the bound that would be passed. */
export interface Busy {
  readonly granted: false;
  readonly limit: "bodyBytesMax" | "vaspBodyBytesMax" | "vaspSubmissionCountMax";
  readonly value: number;
}

/**
 * The reservations of submissions in progress.
 *
 * @example
 * const share = inFlight.reserve("acme", contentLength);
 * if (!share.granted) return busy(share.limit);
 * try { await readAndStore(); } finally { share.release(); }
 */
export class InFlight {
  readonly #limits: InFlightLimits;
  /** Each VASP's submissions in progress and the body bytes they reserved. */
  readonly #vasps = new Map<string, { count: number; bodyBytes: number }>();
  #bodyBytes = 0;

  constructor(limits: InFlightLimits) {
    if (!(limits.bodyBytesMax > 0)) throw new RangeError("bodyBytesMax must be positive");
    if (!(limits.vaspBodyBytesMax > 0)) throw new RangeError("vaspBodyBytesMax must be positive");
    if (!(limits.vaspSubmissionCountMax >= 1)) {
      throw new RangeError("vaspSubmissionCountMax must be at least 1");
    }
    this.#limits = limits;
  }

  /** Body bytes reserved now. */
  get bodyBytes(): number {
    return this.#bodyBytes;
  }

  /** Reserves `bodyBytes` for one submission of `vaspId`, or says which bound is in the way. */
  reserve(vaspId: string, bodyBytes: number): Reservation | Busy {
    if (!(Number.isSafeInteger(bodyBytes) && bodyBytes >= 0)) {
      throw new RangeError(`a body of ${bodyBytes} bytes`);
    }
    const { bodyBytesMax, vaspBodyBytesMax, vaspSubmissionCountMax } = this.#limits;
    const vasp = this.#vasps.get(vaspId) ?? { count: 0, bodyBytes: 0 };
    if (vasp.count >= vaspSubmissionCountMax) {
      return { granted: false, limit: "vaspSubmissionCountMax", value: vaspSubmissionCountMax };
    }
    if (vasp.bodyBytes + bodyBytes > vaspBodyBytesMax) {
      return { granted: false, limit: "vaspBodyBytesMax", value: vaspBodyBytesMax };
    }
    if (this.#bodyBytes + bodyBytes > bodyBytesMax) {
      return { granted: false, limit: "bodyBytesMax", value: bodyBytesMax };
    }
    this.#bodyBytes += bodyBytes;
    vasp.count += 1;
    vasp.bodyBytes += bodyBytes;
    this.#vasps.set(vaspId, vasp);
    let held = true;
    return {
      granted: true,
      release: () => {
        if (!held) return;
        held = false;
        this.#bodyBytes -= bodyBytes;
        vasp.count -= 1;
        vasp.bodyBytes -= bodyBytes;
        if (vasp.count === 0) this.#vasps.delete(vaspId);
      },
    };
  }
}

/**
 * What submissions in progress hold: body bytes across all of them, and how many each VASP has
 * going. A submission reserves its share from its headers, before its body is read, so memory
 * never grows past the bound by a body's allocation; over a bound it is told to retry later.
 */
import type { InFlightLimits } from "./Limits.js";

/** A submission's share, held until {@link Reservation.release} (which may be called twice). */
export interface Reservation {
  readonly granted: true;
  release(): void;
}

/** No share: the bound that would be passed. */
export interface Busy {
  readonly granted: false;
  readonly limit: "bodyBytesMax" | "vaspSubmissionCountMax";
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
  readonly #vaspCounts = new Map<string, number>();
  #bodyBytes = 0;

  constructor(limits: InFlightLimits) {
    if (!(limits.bodyBytesMax > 0)) throw new RangeError("bodyBytesMax must be positive");
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
    const { bodyBytesMax, vaspSubmissionCountMax } = this.#limits;
    const vaspCount = this.#vaspCounts.get(vaspId) ?? 0;
    if (vaspCount >= vaspSubmissionCountMax) {
      return { granted: false, limit: "vaspSubmissionCountMax", value: vaspSubmissionCountMax };
    }
    if (this.#bodyBytes + bodyBytes > bodyBytesMax) {
      return { granted: false, limit: "bodyBytesMax", value: bodyBytesMax };
    }
    this.#bodyBytes += bodyBytes;
    this.#vaspCounts.set(vaspId, vaspCount + 1);
    let held = true;
    return {
      granted: true,
      release: () => {
        if (!held) return;
        held = false;
        this.#bodyBytes -= bodyBytes;
        const left = (this.#vaspCounts.get(vaspId) ?? 1) - 1;
        if (left === 0) this.#vaspCounts.delete(vaspId);
        else this.#vaspCounts.set(vaspId, left);
      },
    };
  }
}

/**
 * A circuit breaker per recipient host (its URL origin): after `breakerFailureCount` transient
 * failures in a row the host's circuit opens for `breakerCoolDownMs`, and deliveries to it are
 * handed back to the spool at once instead of each waiting out a connection timeout in a
 * handler; when the cool-down is over one probe goes through (half-open): its success closes the
 * circuit, its failure opens it for another cool-down. One dead recipient then costs the other
 * hosts nothing but the handful of leases it hands back.
 */

/** How the breakers behave. @example { breakerFailureCount: 5, breakerCoolDownMs: 30_000 } */
export interface BreakerOptions {
  /** Transient failures in a row, to one host, that open its circuit. */
  readonly breakerFailureCount: number;
  /** How long an open circuit turns deliveries back before letting a probe through. */
  readonly breakerCoolDownMs: number;
  /** A number in [0, 1), spreading the retries of the deliveries turned back. */
  readonly random: () => number;
}

/**
 * Hosts tracked at once, 10,000: the recipient and each VASP's report host, a few dozen in
 * practice; past the bound the least recently used closed circuit is forgotten (a forgotten
 * host starts closed, which is where a healthy one is anyway).
 */
const HOSTS_MAX = 10_000;

/** May a delivery go now, or when to come back. */
export type Admission =
  | { readonly admitted: true; readonly probe: boolean }
  | { readonly admitted: false; readonly retryAtMs: number };

interface Circuit {
  failuresInRow: number;
  /** While open: when the next probe may go. */
  openUntilMs: number | null;
  probeInFlight: boolean;
}

/** The circuits of every host delivered to. */
export class CircuitBreakers {
  readonly #options: BreakerOptions;
  readonly #circuits = new Map<string, Circuit>();

  constructor(options: BreakerOptions) {
    if (options.breakerFailureCount < 1) throw new RangeError("breakerFailureCount below 1");
    if (options.breakerCoolDownMs < 1) throw new RangeError("breakerCoolDownMs below 1");
    this.#options = options;
  }

  /** The key of `url`'s circuit: its origin (scheme, host and port). */
  static hostOf(url: string): string {
    return new URL(url).origin;
  }

  /** Whether a delivery to `host` may go at `nowMs`; a probe must be answered with `record`. */
  admit(host: string, nowMs: number): Admission {
    const circuit = this.#circuits.get(host);
    if (circuit === undefined || circuit.openUntilMs === null) {
      return { admitted: true, probe: false };
    }
    if (nowMs >= circuit.openUntilMs && !circuit.probeInFlight) {
      circuit.probeInFlight = true;
      return { admitted: true, probe: true };
    }
    // Spread over a tenth of the cool-down, so the deliveries turned back do not all return at
    // the same millisecond; while a probe is out, they look again a tenth of a cool-down later
    // (the probe's answer decides by then, or its timeout does soon after).
    const tenthMs = Math.ceil(this.#options.breakerCoolDownMs / 10);
    const spreadMs = Math.floor(this.#options.random() * tenthMs);
    const baseMs = circuit.probeInFlight ? nowMs + tenthMs : circuit.openUntilMs;
    return { admitted: false, retryAtMs: baseMs + spreadMs };
  }

  /** Records an attempt's answer: `transient` failures count, anything else closes the circuit. */
  record(host: string, result: "transient" | "answered", nowMs: number, probe: boolean): void {
    let circuit = this.#circuits.get(host);
    if (result === "answered") {
      if (circuit !== undefined) this.#circuits.delete(host);
      return;
    }
    if (circuit === undefined) {
      circuit = { failuresInRow: 0, openUntilMs: null, probeInFlight: false };
      this.#remember(host, circuit);
    }
    circuit.failuresInRow += 1;
    if (probe) circuit.probeInFlight = false;
    const opens = probe || circuit.failuresInRow >= this.#options.breakerFailureCount;
    if (opens) circuit.openUntilMs = nowMs + this.#options.breakerCoolDownMs;
  }

  /** Whether `host`'s circuit is open (or half-open) now: for the status query and tests. */
  isOpen(host: string): boolean {
    return (this.#circuits.get(host)?.openUntilMs ?? null) !== null;
  }

  #remember(host: string, circuit: Circuit): void {
    if (this.#circuits.size >= HOSTS_MAX) {
      for (const [oldest, candidate] of this.#circuits) {
        if (candidate.openUntilMs === null) {
          this.#circuits.delete(oldest);
          break;
        }
      }
    }
    this.#circuits.set(host, circuit);
  }
}

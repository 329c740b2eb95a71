/**
 * Where the synchronizer's timers run. The machine's own delay (the next timed flush trigger)
 * runs on xstate's clock, which the runtime builds from these; confirmation deadlines and
 * timeouts, and the lapse of a slow writer's owed confirmation, run here directly. Real timers
 * by default; tests pass a scripted clock that fires each timer when told.
 */
import type { WriterId } from "@spool/core";

/**
 * What a timer is for: a timed flush trigger, a batch's confirmation deadline or timeout, or
 * the lapse of a confirmation a slow writer owes.
 *
 * @example { kind: "confirmLapse", writerId: writerId(2) }
 */
export type TimerPurpose =
  | { readonly kind: "wake" }
  | { readonly kind: "confirmDeadline" }
  | { readonly kind: "confirmTimeout" }
  | { readonly kind: "confirmLapse"; readonly writerId: WriterId };

/**
 * `after` calls `fire` once after `ms` unless the returned cancel function is called first.
 *
 * @example
 * const cancel = timers.after(10, () => wake(), { kind: "wake" });
 */
export interface SynchronizerTimers {
  after(ms: number, fire: () => void, purpose?: TimerPurpose): () => void;
}

/** Node's timers. */
export const REAL_TIMERS: SynchronizerTimers = {
  after(ms, fire) {
    const timer = setTimeout(fire, ms);
    return () => clearTimeout(timer);
  },
};

/**
 * xstate's clock on top of `timers`: the machine's `after` delays are wake timers.
 *
 * @example
 * createActor(machine, { clock: wakeClock(timers) })
 */
export function wakeClock(timers: SynchronizerTimers): {
  setTimeout(fire: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
} {
  return {
    setTimeout: (fire, ms) => timers.after(ms, fire, { kind: "wake" }),
    clearTimeout: (id) => (id as () => void)(),
  };
}

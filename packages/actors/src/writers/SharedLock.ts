/**
 * Claim 34's shared mutual-exclusion lock, as its own actor behind an interface. A writer holds
 * it from sending a request until the synchronizer's receipt; while the intake is full the
 * receipt waits, so the lock is where back-pressure reaches the writers. This in-process
 * version grants in FIFO order; worker-thread and process versions implement the same
 * interface.
 */
import { InvariantViolation, type WriterId } from "@spool/core";
import { type ActorSystem, createActor, fromTransition } from "xstate";

/**
 * A shared lock: `acquire` calls `granted` once the caller holds it (maybe at once).
 *
 * @example
 * lock.acquire(writerId, () => { send(); lock.release(writerId); });
 */
export interface SharedLock {
  acquire(owner: WriterId, granted: () => void): void;
  /** Takes the lock for `owner` if it is free, at once; never waits. Returns whether it did. */
  tryAcquire(owner: WriterId): boolean;
  release(owner: WriterId): void;
  readonly holder: WriterId | null;
}

/** The lock's state: who holds it, who waits (each writer waits at most once). */
export interface LockState {
  readonly holder: WriterId | null;
  readonly waiters: readonly WriterId[];
}

/** Lock events. @example { type: "lock.acquire", owner } */
export type LockEvent =
  | { readonly type: "lock.acquire"; readonly owner: WriterId }
  | { readonly type: "lock.release"; readonly owner: WriterId };

/** The lock's emitted grant. @example { type: "lock.granted", owner } */
export type LockEmitted = { readonly type: "lock.granted"; readonly owner: WriterId };

/**
 * The lock's transition function, run by xstate's `fromTransition`: pure; the grant is an
 * emitted `lock.granted` event. (A reducer, not a statechart: it has one state, its queue.)
 *
 * @example
 * const actor = createActor(lockLogic);
 */
export const lockLogic = fromTransition<
  LockState,
  LockEvent,
  ActorSystem<never>,
  undefined,
  LockEmitted
>(
  (state: LockState, event: LockEvent, { emit }): LockState => {
    if (event.type === "lock.acquire") {
      if (state.holder === null) {
        emit({ type: "lock.granted", owner: event.owner });
        return { holder: event.owner, waiters: state.waiters };
      }
      if (state.holder === event.owner || state.waiters.includes(event.owner)) {
        throw new InvariantViolation({ message: `writer ${event.owner} asked twice for the lock` });
      }
      return { holder: state.holder, waiters: [...state.waiters, event.owner] };
    }
    if (state.holder !== event.owner)
      throw new InvariantViolation({
        message: `writer ${event.owner} released a lock it does not hold`,
      });
    const [next, ...rest] = state.waiters;
    if (next === undefined) return { holder: null, waiters: state.waiters };
    emit({ type: "lock.granted", owner: next });
    return { holder: next, waiters: rest };
  },
  { holder: null, waiters: [] } as LockState,
);

/**
 * The in-process shared lock.
 *
 * @example
 * const lock = inProcessLock();
 */
export function inProcessLock(): SharedLock {
  const actor = createActor(lockLogic);
  const callbacks = new Map<WriterId, () => void>();
  actor.on("lock.granted", (event) => {
    const granted = callbacks.get(event.owner);
    callbacks.delete(event.owner);
    granted?.();
  });
  actor.start();
  return {
    acquire(owner, granted) {
      callbacks.set(owner, granted);
      actor.send({ type: "lock.acquire", owner });
    },
    tryAcquire(owner) {
      if (actor.getSnapshot().context.holder !== null) return false;
      actor.send({ type: "lock.acquire", owner });
      return true;
    },
    release(owner) {
      actor.send({ type: "lock.release", owner });
    },
    get holder() {
      return actor.getSnapshot().context.holder;
    },
  };
}

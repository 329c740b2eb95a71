/**
 * The messages spool's synchronizer, watched through xstate's inspection events (its actor
 * system's `inspect`): the state its machine is in and how many events it took, for the live
 * page. The same events an xstate inspector shows; a directory's spool and a stream's run the
 * same machine, so the watch is the same for both.
 */
import type { Synchronizer } from "@spool/actors";

/** What the live page shows of the machine. @example { state: "confirming", events: 1204 } */
export interface MachineView {
  /** The state the synchronizer machine rests in. */
  readonly state: string | null;
  /** Events the synchronizer machine took since the watch began. */
  readonly events: number;
}

/**
 * Watches `synchronizer`'s machine from now on; `view` says what it saw, `stop` ends the watch.
 *
 * @example
 * const watch = machineWatch(spool.synchronizer);
 * watch.view(); // { state: "receiving", events: 3 }
 */
export function machineWatch(synchronizer: Synchronizer): {
  readonly view: () => MachineView;
  readonly stop: () => void;
} {
  const { actor } = synchronizer;
  // Begun after the spool opened: the state it rests in now, then each snapshot's.
  const { value } = actor.getSnapshot() as { value?: unknown };
  let state: string | null = typeof value === "string" ? value : null;
  let events = 0;
  const subscription = actor.system.inspect((event) => {
    // The synchronizer is the root of its actor system; its flusher and courier are not.
    if (event.actorRef.sessionId !== event.rootId) return;
    if (event.type === "@xstate.snapshot") {
      const { value: next } = event.snapshot as { value?: unknown };
      if (typeof next === "string") state = next;
    } else if (event.type === "@xstate.event") {
      events += 1;
    }
  });
  return { view: () => ({ state, events }), stop: () => subscription.unsubscribe() };
}

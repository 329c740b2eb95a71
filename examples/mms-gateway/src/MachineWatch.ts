/**
 * The messages spool's synchronizer, watched through xstate's inspection events (the spool's
 * `inspect` option): the state its machine is in and how many events it took, for the live
 * page. The same events an xstate inspector shows.
 */
import type { InspectionEvent } from "xstate";

/** What the live page shows of the machine. @example { state: "confirming", events: 1204 } */
export interface MachineView {
  /** The state the synchronizer machine rests in; null before its first snapshot. */
  readonly state: string | null;
  /** Events the synchronizer machine took. */
  readonly events: number;
}

/**
 * A watcher to pass as `openSpool({ inspect })`, and what it saw.
 *
 * @example
 * const watch = machineWatch();
 * const spool = await openSpool({ dir, inspect: watch.inspect });
 * watch.view(); // { state: "receiving", events: 3 }
 */
export function machineWatch(): {
  readonly inspect: (event: InspectionEvent) => void;
  readonly view: () => MachineView;
} {
  let state: string | null = null;
  let events = 0;
  return {
    inspect: (event) => {
      // The synchronizer is the root of its actor system; its flusher and courier are not.
      if (event.actorRef.sessionId !== event.rootId) return;
      if (event.type === "@xstate.snapshot") {
        const { value } = event.snapshot as { value?: unknown };
        if (typeof value === "string") state = value;
      } else if (event.type === "@xstate.event") {
        events += 1;
      }
    },
    view: () => ({ state, events }),
  };
}

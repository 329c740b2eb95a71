/**
 * The messages spool's synchronizer, watched through xstate's inspection events (its actor
 * system's `inspect`): the state its machine is in, how many events it took, and how often it
 * took each arrow of its flowchart, choices included (from the microsteps: a snapshot shows
 * only the state a machine rests in, never the choices it passed through on the way). The same
 * events an xstate inspector shows; a directory's spool and a stream's run the same machine,
 * so the watch is the same for both.
 */
import type { Synchronizer } from "@spool/actors";
import type { AnyTransitionDefinition } from "xstate";
import { arrowKey } from "./diagram/MachineGraph.js";

/**
 * What the live page shows of the machine.
 *
 * @example { state: "confirming", events: 1204, arrows: { "mapping>writing": 1 }, entries: { writing: 40 } }
 */
export interface MachineView {
  /** The state the synchronizer machine rests in. */
  readonly state: string | null;
  /** Events the synchronizer machine took since the watch began. */
  readonly events: number;
  /** Times each arrow (`source>target`, as `arrowKey` names it) was taken since then. */
  readonly arrows: Readonly<Record<string, number>>;
  /** Times each state was entered from another since then. */
  readonly entries: Readonly<Record<string, number>>;
}

/**
 * Watches `synchronizer`'s machine from now on; `view` says what it saw, `stop` ends the watch.
 *
 * @example
 * const watch = machineWatch(spool.synchronizer);
 * watch.view(); // { state: "receiving", events: 3, arrows: {...}, entries: {...} }
 */
export function machineWatch(synchronizer: Synchronizer): {
  readonly view: () => MachineView;
  readonly stop: () => void;
} {
  if (synchronizer?.actor?.system === undefined) {
    throw new TypeError("synchronizer must be a running Synchronizer");
  }
  const { actor } = synchronizer;
  // Begun after the spool opened: the state it rests in now, then each snapshot's.
  const { value } = actor.getSnapshot() as { value?: unknown };
  let state: string | null = typeof value === "string" ? value : null;
  let events = 0;
  // Source, then target, then count: no key is built per microstep, only per view.
  const taken = new Map<string, Map<string, number>>();
  const count = (transition: AnyTransitionDefinition) => {
    // The root's own transitions are taken in every state, where it is: no arrow of the chart.
    if (transition.source.parent === undefined) return;
    const source = transition.source.key;
    const target = transition.target?.[0]?.key ?? source;
    const targets = taken.get(source) ?? new Map<string, number>();
    targets.set(target, (targets.get(target) ?? 0) + 1);
    taken.set(source, targets);
  };
  const subscription = actor.system.inspect((event) => {
    // The synchronizer is the root of its actor system; its flusher and courier are not.
    if (event.actorRef.sessionId !== event.rootId) return;
    if (event.type === "@xstate.snapshot") {
      const { value: next } = event.snapshot as { value?: unknown };
      if (typeof next === "string") state = next;
    } else if (event.type === "@xstate.event") {
      events += 1;
    } else if (event.type === "@xstate.microstep") {
      for (const transition of event._transitions) count(transition);
    }
  });
  const view = (): MachineView => {
    const arrows: Record<string, number> = {};
    const entries: Record<string, number> = {};
    for (const [source, targets] of taken) {
      for (const [target, times] of targets) {
        arrows[arrowKey(source, target)] = times;
        if (target !== source) entries[target] = (entries[target] ?? 0) + times;
      }
    }
    return { state, events, arrows, entries };
  };
  return { view, stop: () => subscription.unsubscribe() };
}

/**
 * The steps of an xstate machine, read from its own config: every transition a state declares
 * (`on`, `after`, an invoked actor's `onDone` / `onError`, `always`), named
 * `source --event--> target`. Model-based tests collect the steps their paths take from the
 * `@xstate.microstep` inspection events and compare: a transition no path takes fails them.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from "xstate";

/** One declared step: `source --event--> target`, `source --> target` for an `always`. */
export type DeclaredStep = string;

/**
 * The short name of a transition's event: `after <delay>` for a delay, `<id>.done` and
 * `<id>.error` for an invoked actor's outcome, the event's type otherwise.
 *
 * @example eventName("xstate.done.actor.map") // "map.done"
 */
export function eventName(eventType: string): string {
  if (eventType.startsWith("xstate.after.")) {
    return `after ${eventType.slice("xstate.after.".length).split(".")[0]}`;
  }
  const done = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  if (done !== null) return `${done[2]}.${done[1]}`;
  return eventType;
}

function nodeName(node: AnyStateNode): string {
  // The root's own transitions are taken in every state, where it is.
  return node.parent === undefined ? "*" : node.key;
}

/**
 * The step a transition is.
 *
 * @example stepOf(transition) // "writing --disk.written--> confirming"
 */
export function stepOf(transition: AnyTransitionDefinition): DeclaredStep {
  const source = nodeName(transition.source);
  const target = transition.target?.[0] === undefined ? source : nodeName(transition.target[0]);
  const event = transition.eventType === "" ? "" : eventName(transition.eventType);
  return event === "" ? `${source} --> ${target}` : `${source} --${event}--> ${target}`;
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allNodes(child as AnyStateNode))];
}

/**
 * Every step `machine`'s config declares.
 *
 * @example declaredSteps(synchronizerMachine).has("mapping --map.done--> writing") // true
 */
export function declaredSteps(machine: AnyStateMachine): Set<DeclaredStep> {
  const steps = new Set<DeclaredStep>();
  for (const node of allNodes(machine.root)) {
    for (const transitions of node.transitions.values()) {
      for (const transition of transitions) steps.add(stepOf(transition));
    }
    for (const transition of node.always ?? []) steps.add(stepOf(transition));
  }
  return steps;
}

/**
 * The states of `machine` that are choices (claim 64's diamonds): left at once by `always`.
 *
 * @example choiceStates(synchronizerMachine).has("decidingFlush") // true
 */
export function choiceStates(machine: AnyStateMachine): Set<string> {
  return new Set(
    allNodes(machine.root)
      .filter((node) => node.parent !== undefined && (node.always?.length ?? 0) > 0)
      .map((node) => node.key),
  );
}

/**
 * An xstate machine's states and arrows, read from its own config as `npm run diagrams` reads
 * them for docs/machines.md (states, `on`, `always`, `after`, invoked actors' `onDone` /
 * `onError`, guard names, `description` and `meta`), so the live page's diagram is the
 * machine that runs and cannot drift from it.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from "xstate";

/** A flowchart box: a state that waits, a choice left at once (`meta.choice`), or the end. */
export type MachineNodeKind = "state" | "choice" | "final";

/** One state of the machine. @example { key: "confirming", kind: "state", claims: [1, 34, 64] } */
export interface MachineNode {
  readonly key: string;
  readonly kind: MachineNodeKind;
  /** The claims the state carries (`meta.claims`). */
  readonly claims: readonly number[];
  /** The state's `description`, or "". */
  readonly description: string;
}

/**
 * Every declared transition from `source` to `target`, merged into one arrow; each label is
 * `event [guard]` (`[guard]` alone for an `always`, "" for an unguarded `always`).
 *
 * @example { source: "mapping", target: "writing", labels: ["map.done"] }
 */
export interface MachineEdge {
  readonly source: string;
  readonly target: string;
  readonly labels: readonly string[];
}

/**
 * The key an arrow is known by: on the page's SVG (`data-arrow`) and in `/live.json`'s counts.
 *
 * @example arrowKey("mapping", "writing") // "mapping>writing"
 */
export function arrowKey(source: string, target: string): string {
  return `${source}>${target}`;
}

/** A machine's top-level states and the arrows between them. @example machineGraph(m).initial */
export interface MachineGraph {
  /** The state the machine starts in. */
  readonly initial: string;
  readonly nodes: readonly MachineNode[];
  readonly edges: readonly MachineEdge[];
  /** Events the machine's root takes in every state, where it is (drawn as no arrow). */
  readonly everywhere: readonly string[];
}

/**
 * The short name of a transition's event: `after <delay>`, `<id>.done`, `<id>.error`, or the
 * event's type (as `eventName` of `@spool/testing`, which the diagrams script uses).
 */
function eventName(eventType: string): string {
  if (eventType.startsWith("xstate.after.")) {
    return `after ${eventType.slice("xstate.after.".length).split(".")[0]}`;
  }
  const done = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  return done === null ? eventType : `${done[2]}.${done[1]}`;
}

/** A guard's name, or the names of the guards `and([...])` combines. */
function guardName(guard: unknown): string | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === "string") return guard;
  const { type, params } = guard as { type?: unknown; params?: unknown };
  if (typeof type === "string") return type;
  const guards =
    (guard as { guards?: unknown[] }).guards ?? (params as { guards?: unknown[] })?.guards;
  if (Array.isArray(guards)) return guards.map(guardName).join(" and ");
  return "guard";
}

function kindOf(node: AnyStateNode): MachineNodeKind {
  if (node.type === "final") return "final";
  return (node.meta as { choice?: unknown } | undefined)?.choice === true ? "choice" : "state";
}

function transitionsOf(node: AnyStateNode): AnyTransitionDefinition[] {
  return [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
}

function labelOf(transition: AnyTransitionDefinition): string {
  const event = transition.eventType === "" ? "" : eventName(transition.eventType);
  const guard = guardName(transition.guard);
  return [event, guard === undefined ? "" : `[${guard}]`].filter(Boolean).join(" ");
}

/**
 * The top-level states of `machine` and one arrow per source and target, in declaration order.
 *
 * @example
 * const graph = machineGraph(synchronizerMachine);
 * graph.edges.find((edge) => edge.source === "mapping")?.target; // "mapping" (a parked request)
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  if (machine?.root?.states === undefined) throw new TypeError("machine must be an xstate machine");
  const states = Object.values(machine.root.states) as AnyStateNode[];
  const initial = machine.root.initial?.target?.[0]?.key;
  if (initial === undefined) throw new TypeError("machine must have an initial state");
  const labels = new Map<string, { source: string; target: string; labels: string[] }>();
  for (const node of states) {
    for (const transition of transitionsOf(node)) {
      const target = transition.target?.[0]?.key ?? node.key;
      const key = `${node.key}\u0000${target}`;
      const edge = labels.get(key) ?? { source: node.key, target, labels: [] };
      edge.labels.push(labelOf(transition));
      labels.set(key, edge);
    }
  }
  const nodes = states.map((node) => ({
    key: node.key,
    kind: kindOf(node),
    claims: (node.meta as { claims?: number[] } | undefined)?.claims ?? [],
    description: node.description ?? "",
  }));
  return {
    initial,
    nodes,
    edges: [...labels.values()],
    everywhere: [...machine.root.transitions.keys()],
  };
}

/**
 * Draws the synchronizer and writer machines as Mermaid state diagrams in docs/machines.md,
 * from what the machines run on (the synchronizer's tables SYNCHRONIZER_STATES and
 * SYNCHRONIZER_CHOICES; the writer's statechart, writerMachine, walked through its own state
 * nodes), so the pictures cannot drift from the code: `npm run diagrams` rewrites the file,
 * and `npm run diagrams -- --check` (part of `npm test`) fails when it is out of date.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  SYNCHRONIZER_CHOICES,
  SYNCHRONIZER_EVERYWHERE,
  SYNCHRONIZER_STATES,
  writerMachine,
} from "@spool/actors";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const target = path.join(root, "docs", "machines.md");

type Table = Readonly<Record<string, { readonly targets: readonly string[] } | undefined>>;

/** One line per declared transition, labels merged where several events share an arrow. */
function arrows(states: Readonly<Record<string, Table>>): string[] {
  const labels = new Map<string, string[]>();
  for (const [from, table] of Object.entries(states)) {
    for (const [event, transition] of Object.entries(table)) {
      for (const to of transition?.targets ?? []) {
        const key = `${from} --> ${to}`;
        labels.set(key, [...(labels.get(key) ?? []), event]);
      }
    }
  }
  return [...labels].map(([arrow, events]) => `  ${arrow} : ${events.join(", ")}`);
}

function synchronizerDiagram(): string[] {
  const lines = ["stateDiagram-v2", "  [*] --> receiving"];
  for (const choice of Object.keys(SYNCHRONIZER_CHOICES)) {
    lines.push(`  state ${choice} <<choice>>`);
  }
  lines.push(...arrows(SYNCHRONIZER_STATES as unknown as Record<string, Table>));
  for (const [choice, node] of Object.entries(SYNCHRONIZER_CHOICES)) {
    for (const to of node.targets) lines.push(`  ${choice} --> ${to}`);
  }
  lines.push("  closed --> [*]");
  return lines;
}

/** What the diagram reads of an xstate state node and its transitions. */
interface ChartTransition {
  readonly eventType: string;
  readonly guard?: unknown;
  readonly target?: readonly { readonly key: string }[];
  readonly actions: readonly unknown[];
}
interface ChartNode {
  readonly key: string;
  readonly initial?: { readonly target: readonly { readonly key: string }[] };
  readonly states: Readonly<Record<string, ChartNode>>;
  readonly transitions: ReadonlyMap<string, readonly ChartTransition[]>;
  readonly always?: readonly ChartTransition[];
}

// An event's name, or the guard's in brackets for an eventless transition (a diamond).
function transitionLabel(transition: ChartTransition): string {
  const guard = transition.guard;
  const name = typeof guard === "string" ? guard : (guard as { type?: string } | undefined)?.type;
  const guarded = guard === undefined ? "" : `[${name ?? "guarded"}]`;
  return transition.eventType === "" ? guarded : `${transition.eventType}${guarded}`;
}

/**
 * A flat xstate statechart's arrows, from its own state nodes: each child state's `on` and
 * `always` transitions (a targetless one loops), labels merged where several share an arrow;
 * plus the transitions of the machine's root, which every state takes where it is.
 */
function statechartArrows(root: ChartNode): {
  arrows: string[];
  everywhere: ChartTransition[];
} {
  const labels = new Map<string, string[]>();
  for (const node of Object.values(root.states)) {
    const transitions = [...node.transitions.values()].flat().concat(node.always ?? []);
    for (const transition of transitions) {
      for (const to of transition.target?.map((target) => target.key) ?? [node.key]) {
        const key = `${node.key} --> ${to}`;
        labels.set(key, [...(labels.get(key) ?? []), transitionLabel(transition)]);
      }
    }
  }
  const arrows = [...labels].map(([arrow, events]) => `  ${arrow} : ${events.join(", ")}`);
  return { arrows, everywhere: [...root.transitions.values()].flat() };
}

const writerChart = statechartArrows(writerMachine.root as unknown as ChartNode);

function writerDiagram(): string[] {
  const initial = (writerMachine.root as unknown as ChartNode).initial?.target[0]?.key;
  return ["stateDiagram-v2", `  [*] --> ${initial}`, ...writerChart.arrows];
}

// The root's transitions, listed under the picture: Mermaid draws no arrow from every state.
function writerNotes(): string[] {
  const refuses = (transition: ChartTransition) =>
    transition.actions.some(
      (action) => action === "refuse" || (action as { type?: unknown }).type === "refuse",
    );
  const names = (transitions: ChartTransition[]) =>
    transitions.map((transition) => `\`${transitionLabel(transition)}\``).join(", ");
  const taken = writerChart.everywhere.filter((transition) => !refuses(transition));
  const refused = writerChart.everywhere.filter(refuses);
  return [
    `Every state takes ${names(taken)} where it is, unless it takes the event itself`,
    `(writerMachine's root \`on\`); ${names(refused)} anywhere else fail the writer (\`refuse\`).`,
  ];
}

function document(): string {
  const fence = (lines: string[]) => ["```mermaid", ...lines, "```"].join("\n");
  return `${[
    "# Spool's machines",
    "",
    "Generated by `npm run diagrams` from the tables the machines run on; `npm test` fails",
    "when this file is out of date. Diamonds are the flowchart's choices (claim 64), taken",
    "within one event; the other nodes are states where the machine waits.",
    "",
    "## Synchronizer (claims 1, 5-16, 64-69)",
    "",
    fence(synchronizerDiagram()),
    "",
    // Mermaid draws no arrow from every state: these are listed under the picture instead.
    ...Object.keys(SYNCHRONIZER_EVERYWHERE).map(
      (event) => `Every state takes \`${event}\` where it is (SYNCHRONIZER_EVERYWHERE).`,
    ),
    "",
    "## Writer (claim 34)",
    "",
    fence(writerDiagram()),
    "",
    ...writerNotes(),
  ].join("\n")}\n`;
}

const text = document();
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {
    // A missing file is out of date like any other.
  }
  if (current !== text) {
    process.stderr.write("docs/machines.md is out of date: run `npm run diagrams`\n");
    process.exitCode = 1;
  } else {
    process.stdout.write("docs/machines.md matches the machines\n");
  }
} else {
  writeFileSync(target, text);
  process.stdout.write(`wrote ${path.relative(root, target)}\n`);
}

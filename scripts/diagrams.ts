/**
 * Draws the synchronizer and writer machines as Mermaid state diagrams in docs/machines.md,
 * with the claims each state carries, from the machines' own xstate configs (states, `on`,
 * `always`, `after`, invoked actors' `onDone` / `onError`, guard names, `description` and
 * `meta.claims`), so the pictures cannot drift from the code: `npm run diagrams` rewrites the
 * file, and `npm run diagrams -- --check` (part of `npm test`) fails when it is out of date.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { synchronizerMachine, writerMachine } from "@spool/actors";
import { eventName } from "@spool/testing";
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from "xstate";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const target = path.join(root, "docs", "machines.md");

function nodes(machine: AnyStateMachine): AnyStateNode[] {
  return Object.values(machine.root.states) as AnyStateNode[];
}

/** A diamond of the flowchart: a state marked `meta.choice`, left at once by `always`. */
function isChoice(node: AnyStateNode): boolean {
  return (node.meta as { choice?: boolean } | undefined)?.choice === true;
}

function transitionsOf(node: AnyStateNode): AnyTransitionDefinition[] {
  return [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
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

/** One arrow per declared transition of `machine`, labelled event [guard]; labels merged. */
function machineArrows(machine: AnyStateMachine): string[] {
  const labels = new Map<string, string[]>();
  for (const node of nodes(machine)) {
    for (const transition of transitionsOf(node)) {
      const to = transition.target?.[0]?.key ?? node.key;
      const event = transition.eventType === "" ? "" : eventName(transition.eventType);
      const guard = guardName(transition.guard);
      const label = [event, guard === undefined ? "" : `[${guard}]`].filter(Boolean).join(" ");
      const key = `${node.key} --> ${to}`;
      labels.set(key, [...(labels.get(key) ?? []), label]);
    }
  }
  return [...labels].map(([arrow, all]) => {
    const shown = all.filter((label) => label !== "");
    return shown.length === 0 ? `  ${arrow}` : `  ${arrow} : ${shown.join(", ")}`;
  });
}

function machineDiagram(machine: AnyStateMachine): string[] {
  const initial = machine.root.initial?.target?.[0]?.key;
  const lines = ["stateDiagram-v2", `  [*] --> ${initial}`];
  for (const node of nodes(machine)) {
    if (isChoice(node)) lines.push(`  state ${node.key} <<choice>>`);
  }
  lines.push(...machineArrows(machine));
  for (const node of nodes(machine)) {
    if (node.type === "final") lines.push(`  ${node.key} --> [*]`);
  }
  return lines;
}

/** The transitions of the root itself: every state takes them where it is. */
function everywhere(machine: AnyStateMachine): string[] {
  return [...machine.root.transitions.keys()].map(
    (event) => `Every state takes \`${event}\` where it is (a transition of the machine's root).`,
  );
}

/** A Markdown table with its columns aligned, as the formatter (biome) lays it out. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)];
}

/** A table of each state's claims and description, from its `meta` and `description`. */
function claimsTable(machine: AnyStateMachine): string[] {
  const rows = nodes(machine).map((node) => {
    const meta = (node.meta ?? {}) as { claims?: number[] };
    const claims = (meta.claims ?? []).join(", ") || "-";
    const kind = isChoice(node) ? "choice" : node.type === "final" ? "final" : "state";
    return [`\`${node.key}\``, kind, claims, node.description ?? ""];
  });
  return table(["State", "Kind", "Claims", "What it does"], rows);
}

/**
 * The writer's root transitions, under its picture: the events every state takes where it is
 * (unless it takes the event itself), and those that fail the writer anywhere else (`refuse`).
 */
function writerNotes(): string[] {
  const root = [...writerMachine.root.transitions.entries()];
  const refuses = (transition: AnyTransitionDefinition) =>
    transition.actions.some(
      (action) => action === "refuse" || (action as { type?: unknown }).type === "refuse",
    );
  const names = (events: string[]) => events.map((event) => `\`${event}\``).join(", ");
  const taken = root.filter(([, all]) => !all.some(refuses)).map(([event]) => event);
  const refused = root.filter(([, all]) => all.some(refuses)).map(([event]) => event);
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
    "Generated by `npm run diagrams` from the machines' xstate configs; `npm test` fails",
    "when this file is out of date. Diamonds are the flowchart's choices (claim 64), left at",
    "once by `always` transitions whose guards are named in brackets; the other nodes are",
    "states where the machine waits.",
    "",
    "## Synchronizer (claims 1, 5-16, 64-69)",
    "",
    fence(machineDiagram(synchronizerMachine)),
    "",
    // Mermaid draws no arrow from every state: these are listed under the picture instead.
    ...everywhere(synchronizerMachine),
    "",
    ...claimsTable(synchronizerMachine),
    "",
    "## Writer (claim 34)",
    "",
    fence(machineDiagram(writerMachine)),
    "",
    ...writerNotes(),
    "",
    ...claimsTable(writerMachine),
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

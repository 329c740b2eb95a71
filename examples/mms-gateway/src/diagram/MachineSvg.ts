/**
 * A machine's flowchart as an SVG, laid out by `GraphLayout.ts` from `MachineGraph.ts`: a box
 * per state that waits, a hexagon per choice (claim 64's diamonds, left at once), a double box
 * for the end, an arrow per source and target with the events and guards as its tooltip. Each
 * state is a `g` with `data-state`, each arrow a `path` with `data-arrow="source>target"`, so
 * the live page marks the current state and the arrows just taken by class alone.
 */
import { escapeXml } from "../Mm7.js";
import { layoutGraph, type PlacedEdge, type PlacedNode, type Point } from "./GraphLayout.js";
import { arrowKey, type MachineGraph, type MachineNode } from "./MachineGraph.js";

/** The advance of one character of the 12 px monospace the names are set in, in pixels. */
const CHARACTER_WIDTH = 7.3;
const BOX_HEIGHT = 34;
const BOX_PADDING = 22;
/** A choice's pointed ends, each side. */
const CHOICE_POINT = 12;
/** Room each side of a state with an arrow to itself, for the loop. */
const LOOP_ROOM = 24;
const START_RADIUS = 7;
/** The id of the start's dot, which no state of an xstate machine can have (`[` is not allowed). */
const START_ID = "[*]";

function boxWidthOf(node: MachineNode): number {
  const text = node.key.length * CHARACTER_WIDTH + BOX_PADDING;
  return node.kind === "choice" ? text + 2 * CHOICE_POINT : text;
}

const pair = (point: Point) => `${point.x.toFixed(1)},${point.y.toFixed(1)}`;

/**
 * A smooth route through `points` (a Catmull-Rom spline as cubic Béziers), leaving its first
 * point and reaching its last vertically, as arrows leave and enter the boxes.
 */
function curve(points: readonly Point[]): string {
  const tangents = points.map((point, at) => {
    const before = points[at - 1];
    const after = points[at + 1];
    if (before === undefined) return { x: 0, y: after!.y - point.y };
    if (after === undefined) return { x: 0, y: point.y - before.y };
    return { x: (after.x - before.x) / 2, y: (after.y - before.y) / 2 };
  });
  let path = `M${pair(points[0]!)}`;
  for (let at = 1; at < points.length; at += 1) {
    const from = points[at - 1]!;
    const to = points[at]!;
    const leave = { x: from.x + tangents[at - 1]!.x / 3, y: from.y + tangents[at - 1]!.y / 3 };
    const reach = { x: to.x - tangents[at]!.x / 3, y: to.y - tangents[at]!.y / 3 };
    path += ` C${pair(leave)} ${pair(reach)} ${pair(to)}`;
  }
  return path;
}

function shapeOf(node: MachineNode, placed: PlacedNode): string {
  const width = boxWidthOf(node);
  const left = placed.x - width / 2;
  const top = placed.y - BOX_HEIGHT / 2;
  if (node.kind === "choice") {
    const right = left + width;
    const points = [
      [left, placed.y],
      [left + CHOICE_POINT, top],
      [right - CHOICE_POINT, top],
      [right, placed.y],
      [right - CHOICE_POINT, top + BOX_HEIGHT],
      [left + CHOICE_POINT, top + BOX_HEIGHT],
    ];
    return `<polygon class="shape" points="${points.map((p) => p.map((v) => v!.toFixed(1)).join(",")).join(" ")}"/>`;
  }
  const box = `<rect class="shape" x="${left.toFixed(1)}" y="${top.toFixed(1)}" width="${width.toFixed(1)}" height="${BOX_HEIGHT}" rx="8"/>`;
  if (node.kind !== "final") return box;
  const inner = `<rect class="inner" x="${(left + 3).toFixed(1)}" y="${(top + 3).toFixed(1)}" width="${(width - 6).toFixed(1)}" height="${BOX_HEIGHT - 6}" rx="6"/>`;
  return box + inner;
}

function nodeSvg(node: MachineNode, placed: PlacedNode, loops: readonly string[]): string {
  const claims = node.claims.length === 0 ? "" : ` (claims ${node.claims.join(", ")})`;
  const title = `${node.key}: ${node.kind}${claims}. ${node.description}`;
  const loop =
    loops.length === 0
      ? ""
      : loopSvg(node, placed, `${node.key} → ${node.key}: ${loops.join(", ")}`);
  return [
    `<g class="node ${node.kind}" data-state="${escapeXml(node.key)}">`,
    `<title>${escapeXml(title)}</title>`,
    shapeOf(node, placed),
    `<text class="name" x="${placed.x.toFixed(1)}" y="${(placed.y - 3).toFixed(1)}">${escapeXml(node.key)}</text>`,
    `<text class="count" x="${placed.x.toFixed(1)}" y="${(placed.y + 11).toFixed(1)}"></text>`,
    "</g>",
    loop,
  ].join("");
}

/** An arrow from a state to itself: a loop off its right side. */
function loopSvg(node: MachineNode, placed: PlacedNode, title: string): string {
  const right = placed.x + boxWidthOf(node) / 2;
  const reach = right + LOOP_ROOM - 4;
  const y = placed.y;
  const path = `M${right.toFixed(1)},${(y - 8).toFixed(1)} C${reach.toFixed(1)},${(y - 20).toFixed(1)} ${reach.toFixed(1)},${(y + 20).toFixed(1)} ${(right + 1).toFixed(1)},${(y + 8).toFixed(1)}`;
  return `<path class="edge loop" data-arrow="${escapeXml(arrowKey(node.key, node.key))}" d="${path}"><title>${escapeXml(title)}</title></path>`;
}

function edgeSvg(edge: PlacedEdge, labels: readonly string[]): string {
  const shown = labels.filter((label) => label !== "");
  const title = `${edge.source} → ${edge.target}${shown.length === 0 ? "" : `: ${shown.join(", ")}`}`;
  const kind = edge.back ? "edge back" : "edge";
  return `<path class="${kind}" data-arrow="${escapeXml(arrowKey(edge.source, edge.target))}" d="${curve(edge.points)}"><title>${escapeXml(title)}</title></path>`;
}

function startSvg(placed: PlacedNode): string {
  return `<circle class="start" cx="${placed.x.toFixed(1)}" cy="${placed.y.toFixed(1)}" r="${START_RADIUS}"><title>start</title></circle>`;
}

/**
 * The arrowheads: one per colour an arrow is drawn in (a marker does not take its path's), in
 * pixels rather than stroke widths, so a lit (thicker) arrow keeps a head of the same size.
 */
const DEFINITIONS = ["arrow", "arrow-hot"]
  .map(
    (id) =>
      `<marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>`,
  )
  .join("");

/**
 * The SVG of `graph`, laid out top to bottom from its initial state; its states and arrows
 * carry `data-state` and `data-arrow` for the page's script and CSS to mark.
 *
 * @example
 * const svg = machineSvg(machineGraph(synchronizerMachine));
 * svg.includes('data-state="confirming"'); // true
 */
export function machineSvg(graph: MachineGraph): string {
  if (!Array.isArray(graph?.nodes) || graph.nodes.length === 0) {
    throw new TypeError("graph must have nodes");
  }
  const loops = new Map<string, readonly string[]>();
  for (const edge of graph.edges) {
    if (edge.source === edge.target) loops.set(edge.source, edge.labels.filter(Boolean));
  }
  const ordered = [
    ...graph.nodes.filter((node) => node.key === graph.initial),
    ...graph.nodes.filter((node) => node.key !== graph.initial),
  ];
  const layoutNodes = [
    { id: START_ID, width: 2 * START_RADIUS, height: 2 * START_RADIUS },
    ...ordered.map((node) => {
      const width = boxWidthOf(node);
      const room = loops.has(node.key) ? 2 * LOOP_ROOM : 0;
      return { id: node.key, width: width + room, height: BOX_HEIGHT, portSpan: width * 0.7 };
    }),
  ];
  const layoutEdges = [{ source: START_ID, target: graph.initial }, ...graph.edges];
  const layout = layoutGraph(layoutNodes, layoutEdges, { rankGap: 34, nodeGap: 26, margin: 12 });
  const labelsOf = new Map(
    graph.edges.map((edge) => [arrowKey(edge.source, edge.target), edge.labels]),
  );
  const edges = layout.edges.map((edge) =>
    edgeSvg(edge, labelsOf.get(arrowKey(edge.source, edge.target)) ?? []),
  );
  const nodes = ordered.map((node) =>
    nodeSvg(node, layout.nodes.get(node.key)!, loops.get(node.key) ?? []),
  );
  const width = Math.ceil(layout.width);
  const height = Math.ceil(layout.height);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="machine" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="the synchronizer's states">`,
    `<defs>${DEFINITIONS}</defs>`,
    `<g class="edges">${edges.join("")}</g>`,
    startSvg(layout.nodes.get(START_ID)!),
    `<g class="nodes">${nodes.join("")}</g>`,
    "</svg>",
  ].join("");
}

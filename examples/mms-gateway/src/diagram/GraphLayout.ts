/**
 * A layered drawing of a directed graph, top to bottom (Sugiyama's method, as Graphviz's dot
 * and dagre do it, cut down to what a state machine of a few dozen states needs): arrows that
 * close a cycle are turned round, states are put in ranks by their longest path from the
 * start, arrows longer than one rank pass through placeholders, each rank is ordered to cross
 * few arrows (barycenters, then swaps of neighbours), and placed so arrows run as straight as
 * the order allows. Pure: no I/O, no drawing (`MachineSvg.ts` draws).
 */
import { orderRanks, type RankedGraph, type Segment } from "./RankOrder.js";

/** A point of the drawing, in pixels. @example { x: 120, y: 40 } */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A node to place: its id and its box. @example { id: "writing", width: 80, height: 30 } */
export interface LayoutNode {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  /** How wide a stretch of its top and bottom the arrows meet it on (its width's 0.6 if not given). */
  readonly portSpan?: number;
}

/** An arrow between two nodes; one from a node to itself is left out (its drawer draws it). */
export interface LayoutEdge {
  readonly source: string;
  readonly target: string;
}

/** Spacing, in pixels. @example { rankGap: 40, nodeGap: 24, margin: 16 } */
export interface LayoutOptions {
  /** Between the bottom of one rank and the top of the next. */
  readonly rankGap: number;
  /** Between two nodes side by side (half of it beside a placeholder). */
  readonly nodeGap: number;
  readonly margin: number;
}

/** A node where the layout put it: `x`, `y` are its center. */
export interface PlacedNode extends LayoutNode {
  readonly x: number;
  readonly y: number;
  readonly rank: number;
}

/** An arrow's route from its source's border to its target's, through its placeholders. */
export interface PlacedEdge extends LayoutEdge {
  readonly points: readonly Point[];
  /** It closes a cycle: drawn against the ranks' direction. */
  readonly back: boolean;
}

/** The whole drawing. @example layoutGraph(nodes, edges, options).width */
export interface Layout {
  readonly nodes: ReadonlyMap<string, PlacedNode>;
  readonly edges: readonly PlacedEdge[];
  readonly width: number;
  readonly height: number;
}

/**
 * The most nodes laid out: ordering a rank compares every pair of its arrows, so the work grows
 * with the square of the arrows; the machines drawn have 16 states and 6.
 */
export const LAYOUT_NODE_COUNT_MAX = 256;

/** Coordinate passes: each moves nodes toward their neighbours; past a few nothing moves. */
const PLACEMENT_PASSES = 8;

/** How far apart the two arrows of a pair that run both ways are drawn, in pixels. */
const PAIR_OFFSET = 5;

/** The width of a placeholder: an arrow passing through a rank. */
const PLACEHOLDER_WIDTH = 6;

/**
 * Lays out `nodes` and `edges`; the first node is the start (ranked first, where cycles are
 * broken from). Edges from a node to itself are not in the result.
 *
 * @example
 * const layout = layoutGraph([{ id: "a", width: 40, height: 20 }, { id: "b", width: 40, height: 20 }],
 *   [{ source: "a", target: "b" }], { rankGap: 40, nodeGap: 20, margin: 10 });
 * layout.nodes.get("b")!.y > layout.nodes.get("a")!.y; // true
 */
export function layoutGraph(
  nodes: readonly LayoutNode[],
  edges: readonly LayoutEdge[],
  options: LayoutOptions,
): Layout {
  checkGraph(nodes, edges, options);
  const ids = nodes.map((node) => node.id);
  const drawn = edges.filter((edge) => edge.source !== edge.target);
  const back = backEdges(ids, drawn);
  const forward = drawn.map((edge, index) =>
    back.has(index) ? { source: edge.target, target: edge.source } : edge,
  );
  const rank = ranksOf(ids, forward);
  const graph = rankedGraph(nodes, forward, rank);
  const order = orderRanks(graph);
  const x = placeAcross(graph, order, options);
  const y = placeDown(graph, order, options);
  const left = Math.min(...graph.slots.map((slot, index) => x[index]! - slot.width / 2));
  const shift = options.margin - left;
  const placed = new Map<string, PlacedNode>(
    nodes.map((node, index) => [
      node.id,
      { ...node, x: x[index]! + shift, y: y[index]!, rank: rank[index]! },
    ]),
  );
  const routes = routeChains(graph, x, y, shift);
  const pairs = new Set(drawn.map((edge) => `${edge.source}\u0000${edge.target}`));
  const placedEdges = drawn.map((edge, index) => {
    const isBack = back.has(index);
    const chain = forward[index]!;
    const route = routes.get(`${chain.source}\u0000${chain.target}`)!;
    const both = pairs.has(`${edge.target}\u0000${edge.source}`);
    const offset = both ? (isBack ? -PAIR_OFFSET : PAIR_OFFSET) : 0;
    const points = route.map((point) => ({ x: point.x + offset, y: point.y }));
    return { ...edge, back: isBack, points: isBack ? points.reverse() : points };
  });
  const right = Math.max(...graph.slots.map((slot, index) => x[index]! + shift + slot.width / 2));
  const bottom = Math.max(...nodes.map((node, index) => y[index]! + node.height / 2));
  return {
    nodes: placed,
    edges: placedEdges,
    width: right + options.margin,
    height: bottom + options.margin,
  };
}

function checkGraph(
  nodes: readonly LayoutNode[],
  edges: readonly LayoutEdge[],
  options: LayoutOptions,
): void {
  if (!Array.isArray(nodes) || nodes.length === 0) throw new TypeError("nodes must not be empty");
  if (nodes.length > LAYOUT_NODE_COUNT_MAX) {
    throw new RangeError(`at most ${LAYOUT_NODE_COUNT_MAX} nodes are laid out`);
  }
  const ids = new Set(nodes.map((node) => node.id));
  if (ids.size !== nodes.length) throw new TypeError("node ids must be distinct");
  for (const edge of edges) {
    if (!ids.has(edge.source) || !ids.has(edge.target)) {
      throw new TypeError(`edge ${edge.source} -> ${edge.target} names an unknown node`);
    }
  }
  for (const gap of [options.rankGap, options.nodeGap, options.margin]) {
    if (!(Number.isFinite(gap) && gap >= 0)) throw new RangeError("gaps must be finite, ≥ 0");
  }
}

/** The edges (by index) that close a cycle in a depth-first walk from the nodes in order. */
function backEdges(ids: readonly string[], edges: readonly LayoutEdge[]): Set<number> {
  const out = new Map<string, number[]>(ids.map((id) => [id, []]));
  edges.forEach((edge, index) => {
    out.get(edge.source)!.push(index);
  });
  const status = new Map<string, "open" | "done">();
  const back = new Set<number>();
  const visit = (id: string): void => {
    status.set(id, "open");
    for (const index of out.get(id)!) {
      const next = edges[index]!.target;
      if (status.get(next) === "open") back.add(index);
      else if (!status.has(next)) visit(next);
    }
    status.set(id, "done");
  };
  for (const id of ids) if (!status.has(id)) visit(id);
  return back;
}

/** Each node's rank: one below the lowest of the nodes with an edge into it (longest path). */
function ranksOf(ids: readonly string[], edges: readonly LayoutEdge[]): number[] {
  const index = new Map(ids.map((id, at) => [id, at]));
  const incoming = ids.map(() => 0);
  for (const edge of edges) incoming[index.get(edge.target)!]! += 1;
  const rank = ids.map(() => 0);
  const ready = ids.filter((_, at) => incoming[at] === 0);
  while (ready.length > 0) {
    const id = ready.shift()!;
    const from = index.get(id)!;
    for (const edge of edges) {
      if (edge.source !== id) continue;
      const to = index.get(edge.target)!;
      rank[to] = Math.max(rank[to]!, rank[from]! + 1);
      incoming[to]! -= 1;
      if (incoming[to] === 0) ready.push(edge.target);
    }
  }
  return rank;
}

/**
 * The nodes and a placeholder for each rank an edge passes, and the segments joining them
 * rank to rank; one chain per pair of nodes joined (a pair joined both ways shares it).
 */
function rankedGraph(
  nodes: readonly LayoutNode[],
  edges: readonly LayoutEdge[],
  rank: readonly number[],
): RankedGraph {
  const index = new Map(nodes.map((node, at) => [node.id, at]));
  const slots = nodes.map((node, at) => ({
    width: node.width,
    height: node.height,
    rank: rank[at]!,
    real: true,
  }));
  const segments: Segment[] = [];
  const chains = new Map<string, number[]>();
  for (const edge of edges) {
    const key = `${edge.source}\u0000${edge.target}`;
    if (chains.has(key)) continue;
    const from = index.get(edge.source)!;
    const to = index.get(edge.target)!;
    const chain = [from];
    for (let passing = rank[from]! + 1; passing < rank[to]!; passing += 1) {
      slots.push({ width: PLACEHOLDER_WIDTH, height: 0, rank: passing, real: false });
      chain.push(slots.length - 1);
    }
    chain.push(to);
    for (let at = 1; at < chain.length; at += 1) {
      segments.push({ upper: chain[at - 1]!, lower: chain[at]! });
    }
    chains.set(key, chain);
  }
  const portSpans = nodes.map((node) => node.portSpan ?? node.width * 0.6);
  return { slots, segments, chains, portSpans };
}

/** Each slot's center across, rank by rank, toward its neighbours' and never overlapping. */
function placeAcross(
  graph: RankedGraph,
  order: readonly (readonly number[])[],
  options: LayoutOptions,
): number[] {
  const x = graph.slots.map(() => 0);
  const gapBetween = (left: number, right: number) => {
    const gap =
      graph.slots[left]!.real && graph.slots[right]!.real ? options.nodeGap : options.nodeGap / 2;
    return graph.slots[left]!.width / 2 + gap + graph.slots[right]!.width / 2;
  };
  for (const rank of order) {
    rank.forEach((slot, at) => {
      x[slot] = at === 0 ? 0 : x[rank[at - 1]!]! + gapBetween(rank[at - 1]!, slot);
    });
  }
  const above = neighbours(graph, "above");
  const below = neighbours(graph, "below");
  for (let pass = 0; pass < PLACEMENT_PASSES; pass += 1) {
    const downward = pass % 2 === 0;
    const ranks = downward ? order : [...order].reverse();
    for (const rank of ranks) {
      const toward = (slot: number) =>
        pass === PLACEMENT_PASSES - 1
          ? [...above[slot]!, ...below[slot]!]
          : (downward ? above : below)[slot]!;
      const desired = rank.map((slot) =>
        meanOf(
          toward(slot).map((other) => x[other]!),
          x[slot]!,
        ),
      );
      const weight = rank.map((slot) => (graph.slots[slot]!.real ? 1 : 4));
      const gaps = rank.map((slot, at) => (at === 0 ? 0 : gapBetween(rank[at - 1]!, slot)));
      placeInOrder(desired, gaps, weight).forEach((value, at) => {
        x[rank[at]!] = value;
      });
    }
  }
  return x;
}

function neighbours(graph: RankedGraph, side: "above" | "below"): number[][] {
  const found = graph.slots.map((): number[] => []);
  for (const { upper, lower } of graph.segments) {
    if (side === "above") found[lower]!.push(upper);
    else found[upper]!.push(lower);
  }
  return found;
}

function meanOf(values: readonly number[], otherwise: number): number {
  return values.length === 0
    ? otherwise
    : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/**
 * The positions closest (least weighted squares) to `desired` that keep the order and at least
 * `gaps[i]` between slot i-1 and slot i: pool-adjacent-violators on the positions less their
 * gaps, which must then not decrease.
 */
function placeInOrder(
  desired: readonly number[],
  gaps: readonly number[],
  weight: readonly number[],
): number[] {
  const offsets: number[] = [];
  gaps.forEach((gap, at) => {
    offsets.push(at === 0 ? 0 : offsets[at - 1]! + gap);
  });
  const blocks: { sum: number; weight: number; count: number }[] = [];
  desired.forEach((value, at) => {
    blocks.push({ sum: (value - offsets[at]!) * weight[at]!, weight: weight[at]!, count: 1 });
    while (blocks.length > 1) {
      const last = blocks.at(-1)!;
      const before = blocks.at(-2)!;
      if (before.sum / before.weight <= last.sum / last.weight) break;
      blocks.pop();
      blocks[blocks.length - 1] = {
        sum: before.sum + last.sum,
        weight: before.weight + last.weight,
        count: before.count + last.count,
      };
    }
  });
  const placed: number[] = [];
  for (const block of blocks) {
    for (let n = 0; n < block.count; n += 1) {
      placed.push(block.sum / block.weight + offsets[placed.length]!);
    }
  }
  return placed;
}

/** Each slot's center down: ranks as tall as their tallest node, `rankGap` apart. */
function placeDown(
  graph: RankedGraph,
  order: readonly (readonly number[])[],
  options: LayoutOptions,
): number[] {
  const y = graph.slots.map(() => 0);
  const heights = order.map((rank) =>
    Math.max(0, ...rank.map((slot) => graph.slots[slot]!.height)),
  );
  let top = options.margin;
  order.forEach((rank, at) => {
    for (const slot of rank) y[slot] = top + heights[at]! / 2;
    top += heights[at]! + options.rankGap;
  });
  return y;
}

/**
 * Each chain's points: from its upper node's bottom through its placeholders to its lower
 * node's top, meeting each node at a port spread along its side in the order of the chains'
 * other ends, so arrows into one node do not meet in a point.
 */
function routeChains(
  graph: RankedGraph,
  x: readonly number[],
  y: readonly number[],
  shift: number,
): Map<string, Point[]> {
  const ports = new Map<string, { start: number; end: number }>();
  const side = (slot: number, chains: { key: string; toward: number; end: "start" | "end" }[]) => {
    chains.sort((a, b) => x[a.toward]! - x[b.toward]!);
    const span = graph.portSpans[slot]!;
    chains.forEach((chain, at) => {
      const port = ports.get(chain.key) ?? { start: 0, end: 0 };
      port[chain.end] = x[slot]! - span / 2 + (span * (at + 1)) / (chains.length + 1);
      ports.set(chain.key, port);
    });
  };
  graph.slots.forEach((slot, index) => {
    if (!slot.real) return;
    const leaving = [...graph.chains].filter(([, chain]) => chain[0] === index);
    const arriving = [...graph.chains].filter(([, chain]) => chain.at(-1) === index);
    side(
      index,
      leaving.map(([key, chain]) => ({ key, toward: chain[1]!, end: "start" as const })),
    );
    side(
      index,
      arriving.map(([key, chain]) => ({ key, toward: chain.at(-2)!, end: "end" as const })),
    );
  });
  const routes = new Map<string, Point[]>();
  for (const [key, chain] of graph.chains) {
    const port = ports.get(key)!;
    const first = chain[0]!;
    const last = chain.at(-1)!;
    const heightOf = (slot: number) => graph.slots[slot]!.height;
    routes.set(key, [
      { x: port.start + shift, y: y[first]! + heightOf(first) / 2 },
      ...chain.slice(1, -1).map((slot) => ({ x: x[slot]! + shift, y: y[slot]! })),
      { x: port.end + shift, y: y[last]! - heightOf(last) / 2 },
    ]);
  }
  return routes;
}

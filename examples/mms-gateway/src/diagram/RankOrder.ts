/**
 * The order of the nodes within each rank of a layered drawing (`GraphLayout.ts`), chosen to
 * cross few arrows: sweeps down and up that sort each rank by the mean position of its
 * neighbours in the rank before (the barycenter heuristic), each followed by swaps of
 * neighbours that cross fewer; the order with the fewest crossings seen is kept.
 */

/** A node, or a placeholder where an arrow passes a rank. @example { width: 80, height: 30, rank: 2, real: true } */
export interface Slot {
  readonly width: number;
  readonly height: number;
  readonly rank: number;
  /** A node of the graph; false for a placeholder. */
  readonly real: boolean;
}

/** A piece of an arrow from a slot to one in the next rank down. @example { upper: 0, lower: 3 } */
export interface Segment {
  readonly upper: number;
  readonly lower: number;
}

/** The graph with its long arrows cut into segments, one rank each. */
export interface RankedGraph {
  /** The graph's nodes first, in its order, then the placeholders. */
  readonly slots: readonly Slot[];
  readonly segments: readonly Segment[];
  /** Each arrow's slots from its upper node to its lower one, by `source\0target` (ranked). */
  readonly chains: ReadonlyMap<string, readonly number[]>;
  /** Per node: how wide a stretch of its top and bottom the arrows meet it on. */
  readonly portSpans: readonly number[];
}

/**
 * Sweeps made: each down or up. The 16-state synchronizer settles within about six; the rest
 * are cheap (a few hundred segment pairs each) and keep a worse order from being kept.
 */
const ORDER_SWEEPS = 24;

/**
 * The slots of each rank, top rank first, left to right.
 *
 * @example orderRanks(graph)[0] // [0]: the start alone in the first rank
 */
export function orderRanks(graph: RankedGraph): number[][] {
  if (graph.slots.length === 0) throw new TypeError("the graph must have slots");
  const rankCount = Math.max(...graph.slots.map((slot) => slot.rank)) + 1;
  const above = graph.slots.map((): number[] => []);
  const below = graph.slots.map((): number[] => []);
  const byRank: Segment[][] = Array.from({ length: rankCount }, () => []);
  for (const segment of graph.segments) {
    above[segment.lower]!.push(segment.upper);
    below[segment.upper]!.push(segment.lower);
    byRank[graph.slots[segment.upper]!.rank]!.push(segment);
  }
  const order = firstOrder(graph, below, rankCount);
  const position = graph.slots.map(() => 0);
  const reposition = (rank: readonly number[]) => {
    rank.forEach((slot, at) => {
      position[slot] = at;
    });
  };
  order.forEach(reposition);
  const crossingsBelow = (rank: number) =>
    rank < 0 || rank >= rankCount - 1 ? 0 : crossings(byRank[rank]!, position);
  const total = () => order.reduce((sum, _, rank) => sum + crossingsBelow(rank), 0);
  let best = order.map((rank) => [...rank]);
  let fewest = total();
  for (let sweep = 0; sweep < ORDER_SWEEPS && fewest > 0; sweep += 1) {
    const downward = sweep % 2 === 0;
    const ranks = [...order.keys()];
    for (const rank of downward ? ranks.slice(1) : ranks.slice(0, -1).reverse()) {
      const neighbours = downward ? above : below;
      const key = (slot: number) => {
        const near = neighbours[slot]!;
        if (near.length === 0) return position[slot]!;
        return near.reduce((sum, other) => sum + position[other]!, 0) / near.length;
      };
      order[rank]!.sort((a, b) => key(a) - key(b) || position[a]! - position[b]!);
      reposition(order[rank]!);
    }
    for (let rank = 0; rank < rankCount; rank += 1) {
      swapNeighbours(
        order[rank]!,
        () => crossingsBelow(rank - 1) + crossingsBelow(rank),
        reposition,
      );
    }
    const now = total();
    if (now < fewest) {
      fewest = now;
      best = order.map((rank) => [...rank]);
    }
  }
  return best;
}

/** Each rank in the order a walk down from the first slot meets it; slots it misses last. */
function firstOrder(
  graph: RankedGraph,
  below: readonly (readonly number[])[],
  rankCount: number,
): number[][] {
  const order: number[][] = Array.from({ length: rankCount }, () => []);
  const seen = new Set<number>();
  const walk = (start: number) => {
    const queue = [start];
    seen.add(start);
    while (queue.length > 0) {
      const slot = queue.shift()!;
      order[graph.slots[slot]!.rank]!.push(slot);
      for (const next of below[slot]!) {
        if (seen.has(next)) continue;
        seen.add(next);
        queue.push(next);
      }
    }
  };
  graph.slots.forEach((_, slot) => {
    if (!seen.has(slot)) walk(slot);
  });
  return order;
}

/** Pairs of segments between one rank and the next that cross. */
function crossings(segments: readonly Segment[], position: readonly number[]): number {
  let count = 0;
  for (let a = 0; a < segments.length; a += 1) {
    for (let b = a + 1; b < segments.length; b += 1) {
      const upper = position[segments[a]!.upper]! - position[segments[b]!.upper]!;
      const lower = position[segments[a]!.lower]! - position[segments[b]!.lower]!;
      if (upper * lower < 0) count += 1;
    }
  }
  return count;
}

/** Swaps neighbours in `rank` while a swap crosses fewer (each pass must gain, so it ends). */
function swapNeighbours(
  rank: number[],
  crossingsHere: () => number,
  reposition: (rank: readonly number[]) => void,
): void {
  let current = crossingsHere();
  let improved = true;
  while (improved && current > 0) {
    improved = false;
    for (let at = 0; at + 1 < rank.length; at += 1) {
      [rank[at], rank[at + 1]] = [rank[at + 1]!, rank[at]!];
      reposition(rank);
      const after = crossingsHere();
      if (after < current) {
        current = after;
        improved = true;
      } else {
        [rank[at], rank[at + 1]] = [rank[at + 1]!, rank[at]!];
        reposition(rank);
      }
    }
  }
}

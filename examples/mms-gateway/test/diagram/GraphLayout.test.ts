import { synchronizerMachine } from "@spool/actors";
import { describe, expect, it } from "vitest";
import {
  type Layout,
  type LayoutEdge,
  layoutGraph,
  type PlacedNode,
} from "../../src/diagram/GraphLayout.js";
import { machineGraph } from "../../src/diagram/MachineGraph.js";

const OPTIONS = { rankGap: 30, nodeGap: 20, margin: 10 };

function synchronizerLayout(): { layout: Layout; edges: LayoutEdge[] } {
  const graph = machineGraph(synchronizerMachine);
  const nodes = graph.nodes.map((node) => ({
    id: node.key,
    width: node.key.length * 7 + 20,
    height: 30,
  }));
  const edges = graph.edges.map(({ source, target }) => ({ source, target }));
  return { layout: layoutGraph(nodes, edges, OPTIONS), edges };
}

describe("layoutGraph", () => {
  it("puts no two nodes of a rank over each other", () => {
    const { layout } = synchronizerLayout();
    const byRank = new Map<number, PlacedNode[]>();
    for (const node of layout.nodes.values()) {
      byRank.set(node.rank, [...(byRank.get(node.rank) ?? []), node]);
    }
    for (const nodes of byRank.values()) {
      const sorted = nodes.sort((a, b) => a.x - b.x);
      for (let at = 1; at < sorted.length; at += 1) {
        const left = sorted[at - 1]!;
        const right = sorted[at]!;
        expect(right.x - right.width / 2).toBeGreaterThanOrEqual(
          left.x + left.width / 2 + 20 - 1e-6,
        );
      }
    }
  });

  it("keeps every node and arrow inside the drawing", () => {
    const { layout } = synchronizerLayout();
    for (const node of layout.nodes.values()) {
      expect(node.x - node.width / 2).toBeGreaterThanOrEqual(0);
      expect(node.x + node.width / 2).toBeLessThanOrEqual(layout.width);
      expect(node.y + node.height / 2).toBeLessThanOrEqual(layout.height);
    }
    for (const edge of layout.edges) {
      for (const { x, y } of edge.points) {
        expect([x >= 0 && x <= layout.width, y >= 0 && y <= layout.height]).toEqual([true, true]);
      }
    }
  });

  it("runs each arrow from its source's border to its target's, down unless it closes a cycle", () => {
    const { layout, edges } = synchronizerLayout();
    const drawn = edges.filter((edge) => edge.source !== edge.target);
    expect(layout.edges).toHaveLength(drawn.length);
    for (const edge of layout.edges) {
      const source = layout.nodes.get(edge.source)!;
      const target = layout.nodes.get(edge.target)!;
      const first = edge.points[0]!;
      const last = edge.points.at(-1)!;
      const down = target.rank > source.rank;
      expect([edge.source, edge.target, down]).toEqual([edge.source, edge.target, !edge.back]);
      expect(first.y).toBe(down ? source.y + source.height / 2 : source.y - source.height / 2);
      expect(last.y).toBe(down ? target.y - target.height / 2 : target.y + target.height / 2);
      expect(Math.abs(first.x - source.x)).toBeLessThanOrEqual(source.width / 2);
      expect(Math.abs(last.x - target.x)).toBeLessThanOrEqual(target.width / 2);
    }
  });

  it("turns round only the arrows that close a cycle, from the first node", () => {
    const nodes = ["a", "b", "c"].map((id) => ({ id, width: 20, height: 10 }));
    const edges = [
      { source: "a", target: "b" },
      { source: "b", target: "c" },
      { source: "c", target: "a" },
      { source: "a", target: "c" },
    ];
    const layout = layoutGraph(nodes, edges, OPTIONS);
    expect(layout.edges.map((edge) => edge.back)).toEqual([false, false, true, false]);
    expect(["a", "b", "c"].map((id) => layout.nodes.get(id)!.rank)).toEqual([0, 1, 2]);
  });

  it("refuses an empty graph, an arrow to an unknown node and a negative gap", () => {
    const node = { id: "a", width: 10, height: 10 };
    expect(() => layoutGraph([], [], OPTIONS)).toThrow(TypeError);
    expect(() => layoutGraph([node], [{ source: "a", target: "b" }], OPTIONS)).toThrow(/unknown/);
    expect(() => layoutGraph([node], [], { ...OPTIONS, nodeGap: -1 })).toThrow(RangeError);
  });
});

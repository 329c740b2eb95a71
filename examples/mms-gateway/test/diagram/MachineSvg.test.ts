import { synchronizerMachine } from "@spool/actors";
import { describe, expect, it } from "vitest";
import { arrowKey, machineGraph } from "../../src/diagram/MachineGraph.js";
import { machineSvg } from "../../src/diagram/MachineSvg.js";

const attributes = (svg: string, name: string) =>
  [...svg.matchAll(new RegExp(`${name}="([^"]*)"`, "g"))].map((match) => match[1]!);

describe("machineSvg", () => {
  const graph = machineGraph(synchronizerMachine);
  const svg = machineSvg(graph);

  it("draws each state once, by its name", () => {
    expect(attributes(svg, "data-state").sort()).toEqual(
      graph.nodes.map((node) => node.key).sort(),
    );
  });

  it("draws each arrow once, loops included, and the start's", () => {
    const expected = [
      arrowKey("[*]", graph.initial),
      ...graph.edges.map((edge) => arrowKey(edge.source, edge.target)),
    ];
    expect(
      attributes(svg, "data-arrow")
        .map((key) => key.replace(/&#62;/g, ">"))
        .sort(),
    ).toEqual(expected.sort());
  });

  it("tells each arrow's events and guards in its tooltip", () => {
    expect(svg).toContain("<title>mapping → writing: map.done</title>");
    expect(svg).toContain("[shouldFlush and isMapped]");
  });

  it("is one SVG element with a view box", () => {
    expect(svg).toMatch(/^<svg [^>]*viewBox="0 0 \d+ \d+"/);
    expect(svg.endsWith("</svg>")).toBe(true);
  });
});

import { synchronizerMachine, writerMachine } from "@spool/actors";
import { declaredSteps } from "@spool/testing";
import { describe, expect, it } from "vitest";
import { arrowKey, machineGraph } from "../../src/diagram/MachineGraph.js";

describe("machineGraph", () => {
  it("has every top-level state of the synchronizer, its choices and its end", () => {
    const graph = machineGraph(synchronizerMachine);
    expect(graph.nodes.map((node) => node.key)).toEqual(
      Object.keys(synchronizerMachine.root.states),
    );
    expect(graph.initial).toBe("receiving");
    const kinds = Object.fromEntries(graph.nodes.map((node) => [node.key, node.kind]));
    expect(kinds).toMatchObject({ decidingFlush: "choice", confirming: "state", closed: "final" });
    expect(graph.nodes.find((node) => node.key === "confirming")?.claims).toContain(64);
  });

  it("draws an arrow for every step the machine declares, as the model-based tests count them", () => {
    for (const machine of [synchronizerMachine, writerMachine]) {
      const graph = machineGraph(machine);
      const arrows = new Set(graph.edges.map((edge) => arrowKey(edge.source, edge.target)));
      for (const step of declaredSteps(machine)) {
        const [, source, target] = /^(\S+) --(?:.*--)?> (\S+)$/.exec(step)!;
        // The root's own steps (`*`) are taken where the machine is: no arrow, listed instead.
        if (source === "*") {
          expect(graph.everywhere.length).toBeGreaterThan(0);
          continue;
        }
        expect([step, arrows.has(arrowKey(source!, target!))]).toEqual([step, true]);
      }
    }
  });

  it("labels a merged arrow with each event and guard", () => {
    const graph = machineGraph(synchronizerMachine);
    const mapped = graph.edges.find(
      (edge) => edge.source === "mapping" && edge.target === "writing",
    );
    expect(mapped?.labels).toEqual(["map.done"]);
    const toWriting = graph.edges.find(
      (edge) => edge.source === "decidingFlush" && edge.target === "writing",
    );
    expect(toWriting?.labels).toEqual(["[shouldFlush and isMapped]"]);
  });

  it("refuses what is not a machine", () => {
    expect(() => machineGraph({} as never)).toThrow(TypeError);
  });
});

import { createActor, fromCallback, setup, assign } from "xstate";
const logic = fromCallback(() => {});
let t = performance.now(); const n = 100000;
for (let i = 0; i < n; i++) { const a = createActor(logic); a.start(); a.stop(); }
console.log("createActor+start+stop µs", ((performance.now() - t) * 1000 / n).toFixed(2));
// a small machine: 3 states, always chain, assign
const m = setup({ types: { context: {} as { a: number; b: number; c: number; d: number; e: number; f: number; g: number; h: number; i: number; j: number; k: number; l: number; m: number; n: number; o: number }, events: {} as { type: "go" } | { type: "back" } } }).createMachine({
  context: { a: 0, b: 0, c: 0, d: 0, e: 0, f: 0, g: 0, h: 0, i: 0, j: 0, k: 0, l: 0, m: 0, n: 0, o: 0 },
  initial: "idle",
  states: {
    idle: { on: { go: { target: "c1", actions: assign(({ context }) => ({ a: context.a + 1 })) } } },
    c1: { always: [{ guard: ({ context }) => context.a < 0, target: "idle" }, { target: "busy" }] },
    busy: { on: { back: { target: "idle", actions: assign(({ context }) => ({ b: context.b + 1 })) } } },
  },
});
const actor = createActor(m).start();
t = performance.now();
for (let i = 0; i < n; i++) { actor.send({ type: "go" }); actor.send({ type: "back" }); }
console.log("3 microsteps (2 events) µs", ((performance.now() - t) * 1000 / n).toFixed(2));

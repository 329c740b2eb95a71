import { synchronizerMachine, SynchronizerCounters } from "@spool/actors";
import { resolveConfig, segmentNumber, byteOffset, seq } from "@spool/core";
import { createActor, fromCallback, fromPromise } from "xstate";
let sendBackFlush: any; let sendBackConfirm: any;
const machine = synchronizerMachine.provide({
  actors: {
    mapSegment: fromPromise(async () => undefined),
    flusher: fromCallback(({ sendBack }) => { sendBackFlush = sendBack; }),
    courier: fromCallback(({ sendBack }) => { sendBackConfirm = sendBack; }),
  },
});
const services: any = { clock: () => 0, counters: new SynchronizerCounters() };
const config = resolveConfig({});
const actor = createActor(machine, { input: { config, cursor: { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) }, nowMs: 0, services } });
actor.start();
const req = (id: number) => ({ id, writerId: 1, senderId: 1, payload: new Uint8Array(100), durability: "flushed", target: undefined });
actor.send({ type: "sync.requests", requests: [req(0)], atMs: 0 } as any);
await new Promise((r) => setTimeout(r, 10));
function cycle(i: number) {
  actor.send({ type: "sync.requests", requests: [req(i)], atMs: 0 } as any);
  const id = actor.getSnapshot().context.inFlight!.batch.id;
  sendBackFlush({ type: "disk.submitted", batchId: id });
  sendBackFlush({ type: "disk.written", batchId: id, outcome: { level: "flushed" } });
  sendBackConfirm({ type: "writer.confirmed", batchId: id, confirmed: 1, vanished: 0 });
}
// first batch: finish it
{ const id = actor.getSnapshot().context.inFlight!.batch.id; sendBackFlush({ type: "disk.submitted", batchId: id }); sendBackFlush({ type: "disk.written", batchId: id, outcome: { level: "flushed" } }); sendBackConfirm({ type: "writer.confirmed", batchId: id, confirmed: 1, vanished: 0 }); }
console.log("state", actor.getSnapshot().value);
for (let i = 1; i < 20000; i++) cycle(i);
const n = 150000; const t = performance.now();
for (let i = 0; i < n; i++) cycle(20000 + i);
console.log("µs per cycle", ((performance.now() - t) * 1000 / n).toFixed(2), actor.getSnapshot().value);

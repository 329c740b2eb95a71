import { openSpool } from "@spool/actors";
const t0 = performance.now();
const log: string[] = [];
let on = false;
const spool = await openSpool({
  dir: "/tmp/prof/trace" + Date.now(),
  inspect: (e: any) => {
    if (!on) return;
    if (e.type === "@xstate.event") log.push(`${(performance.now() - t0).toFixed(3)} event ${e.event.type} -> ${e.actorRef.id ?? ""}`);
    if (e.type === "@xstate.snapshot" && e.actorRef === e.actorRef.system.get?.("x")) {}
    if (e.type === "@xstate.snapshot" && typeof e.snapshot.value === "string") log.push(`${(performance.now() - t0).toFixed(3)}   snapshot ${e.snapshot.value}`);
  },
});
const w = spool.writer("x");
for (let i = 0; i < 200; i++) await w.append("hello");
on = true;
for (let i = 0; i < 3; i++) { log.push(`${(performance.now() - t0).toFixed(3)} APPEND`); await w.append("hello"); log.push(`${(performance.now() - t0).toFixed(3)} RESOLVED`); }
console.log(log.join("\n"));
await spool.close();

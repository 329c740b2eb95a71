import { openSpool } from "@spool/actors";
import { memoryAdapter } from "@spool/adapters";
const writers = Number(process.argv[2] ?? 1);
const spool = await openSpool({ dir: "/mem" + Math.random(), adapter: memoryAdapter() });
const w = spool.writer("x");
const payload = new Uint8Array(1024);
async function run(ms: number) {
  let n = 0; const end = performance.now() + ms;
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: writers }, async () => { while (performance.now() < end) { await w.append(payload); n++; } }));
  const cpu = process.cpuUsage(cpu0);
  return { n, usPerMsg: (cpu.user + cpu.system) / n };
}
await run(1000);
const r = await run(3000);
console.log(JSON.stringify({ writers, msgsPerSec: Math.round(r.n / 3), cpuUsPerMsg: +r.usPerMsg.toFixed(2) }));
await spool.close();
process.exit(0);

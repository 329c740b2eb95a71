/**
 * The attackers, in a process of their own so their thousand sockets and timers take neither
 * descriptors nor event-loop turns from the test process, whose legitimate VASP is timed
 * against the gateway. argv[2] is the AttackPlan (JSON). Prints `{loaded: true}` once it runs;
 * on a `start` line attacks and prints `{ready: figures}` once every slot's first connection
 * attempt settled; on a `stop` line (or the end of stdin) closes every hostile connection,
 * prints `{stopped: figures}` and exits.
 */
import { writeSync } from "node:fs";
import { type AttackPlan, type Siege, startSiege } from "../Attackers.js";

const plan = JSON.parse(process.argv[2]!) as AttackPlan;
const print = (line: object) => writeSync(1, `${JSON.stringify(line)}\n`);

let siege: Siege | undefined;
const start = async () => {
  if (siege !== undefined) return;
  siege = startSiege(plan);
  await siege.ready;
  print({ ready: siege.figures });
};
let stopped = false;
const stop = () => {
  if (stopped) return;
  stopped = true;
  siege?.stop();
  print({ stopped: siege?.figures ?? null });
  process.exit(0);
};
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text: string) => {
  if (text.includes("start")) void start();
  if (text.includes("stop")) stop();
});
process.stdin.on("end", stop);
print({ loaded: true });

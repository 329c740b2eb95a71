/** Opens a spool and holds it until killed: the other process in the lock test. */
import { writeSync } from "node:fs";
import { openSpool } from "@spool/actors";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: holder.ts DIR");
await openSpool({ dir });
writeSync(1, "READY\n");
setInterval(() => {}, 1000);

/**
 * A spool process for the socket tests: opens the spool at argv[2] (file adapter) and serves
 * writers on its socket with a lease of argv[3] ms; prints `{serving: path}` once listening.
 */
import { writeSync } from "node:fs";
import { openSpool } from "../../src/spool/Spool.js";
import { serveWriters } from "../../src/transports/WriterSocket.js";

const [dir, leaseText] = process.argv.slice(2);
const spool = await openSpool({ dir: dir! });
const server = await serveWriters(spool, { leaseMs: Number(leaseText) });
writeSync(1, `${JSON.stringify({ serving: server.path })}\n`);
process.on("SIGTERM", async () => {
  await server.close();
  await spool.close();
  process.exit(0);
});

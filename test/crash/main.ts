/**
 * `npm run crash -- --runs N`: N rounds of start, work, SIGKILL, reopen and check on one spool
 * directory under the OS temp dir; prints the rounds and acknowledged records checked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CampaignFailed, runCampaign } from "./Campaign.js";

const at = process.argv.indexOf("--runs");
const runs = at >= 0 ? Number(process.argv[at + 1]) : 20;
const dir = mkdtempSync(path.join(tmpdir(), "spool-crash-"));
try {
  const result = await runCampaign(dir, runs, (round) =>
    process.stderr.write(`\r${round}/${runs} rounds`),
  );
  process.stderr.write("\n");
  process.stdout.write(
    `${result.rounds} SIGKILL rounds, ${result.acknowledgedAppends} acknowledged appends and ` +
      `${result.acknowledgedAcks} acknowledged acks (${result.workerAcks} by killed workers) ` +
      `checked, ${result.lost} lost: ok\n`,
  );
  rmSync(dir, { recursive: true, force: true });
} catch (error) {
  process.stderr.write(`\n${error instanceof CampaignFailed ? error.message : String(error)}\n`);
  process.exitCode = 1;
}

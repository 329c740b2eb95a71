/**
 * `npm run bench`: every case in one run, each in its own child process (so no case inherits
 * another's heap, JIT state or page cache pressure), then a table, Spool's ratios to every peer,
 * the issue's targets checked against this run, `results/latest.json` and SVG charts.
 * `--quick` runs every case briefly as a smoke test (CI runs it; its figures mean nothing and go
 * to the temporary directory, not results/).
 * `--only a,b` runs only the cases of those systems and prints their table and ratios,
 * leaving `results/` as the last whole run wrote it.
 * A case that fails is reported in its row (`error`) and the run goes on to the next.
 * The JetStream rows run on servers this run starts and stops (NatsServers.ts).
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { benchCases } from "./Cases.js";
import {
  type CaseOutcome,
  type CaseSpec,
  isFailure,
  type SystemName,
  warmUpMsOf,
} from "./Measurement.js";
import { NatsServers } from "./NatsServers.js";
import { report } from "./Report.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const MIB = 1024 * 1024;

/**
 * What a case may take beyond three times its warm-up and measured time before it is stopped
 * and reported as failed: starting its process (about a second of tsx), zero-filling its
 * segment (3.2 GiB at most, about 10 s at the 2 GiB in 6.3 s measured here) and closing.
 * A case past it has hung (a lost wake-up, a flush that never returns); the run goes on.
 */
const CASE_SETUP_MS_MAX = 60_000;

function parseArguments(argv: readonly string[]) {
  const quick = argv.includes("--quick");
  const at = argv.indexOf("--only");
  const only = at === -1 ? undefined : new Set((argv[at + 1] ?? "").split(",").filter(Boolean));
  return { quick, only };
}

/**
 * Runs one case in a child process: its figures, or the error that ended it. A JetStream case
 * is handed the URLs of the run's servers after its spec.
 */
function runInChild(spec: CaseSpec, natsServers: string | undefined): CaseOutcome {
  const timeoutMs = CASE_SETUP_MS_MAX + 3 * (warmUpMsOf(spec) + spec.seconds * 1000);
  const caseArguments = [JSON.stringify(spec), ...(natsServers === undefined ? [] : [natsServers])];
  const child = spawnSync(
    process.execPath,
    // The packages run from their built dist/, as an application would run them.
    ["--import", "tsx", path.join(here, "Case.ts"), ...caseArguments],
    // The case's stderr (warnings, a failure's stack) goes straight to this run's.
    {
      encoding: "utf8",
      maxBuffer: 64 * MIB,
      stdio: ["ignore", "pipe", "inherit"],
      timeout: timeoutMs,
    },
  );
  const last = child.stdout?.trim().split("\n").pop();
  if (last?.startsWith("{")) return JSON.parse(last) as CaseOutcome;
  const code = (child.error as NodeJS.ErrnoException | undefined)?.code;
  const how =
    code === "ETIMEDOUT"
      ? `gave no result within ${timeoutMs / 1000} s`
      : child.error !== undefined
        ? `could not run: ${child.error.message}`
        : `ended (${child.signal ?? `exit code ${child.status}`}) with no result`;
  // A case stopped midway leaves its files: the next case starts in an empty directory.
  rmSync(spec.dir, { recursive: true, force: true });
  return { ...spec, error: `the case process ${how}` };
}

const label = (spec: CaseSpec) => {
  const size = spec.payloadByteSize;
  const shape =
    spec.consumers === undefined ? `×${spec.writers}` : `${spec.writers}×${spec.consumers}`;
  return `${spec.system} ${shape} ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`}`;
};

const { quick, only } = parseArguments(process.argv.slice(2));
const dir = path.resolve(here, "../../spool-data/bench");
const all = benchCases({ quick, dir });
const known = new Set<string>(all.map((spec) => spec.system));
const unknown = [...(only ?? [])].filter((system) => !known.has(system));
if (only?.size === 0 || unknown.length > 0) {
  process.stderr.write(
    `--only takes systems separated by commas${unknown.length > 0 ? `, not ${unknown.join(", ")}` : ""}; ` +
      `the systems: ${[...known].join(", ")}\n`,
  );
  process.exit(2);
}
const cases = only === undefined ? all : all.filter((spec) => only.has(spec.system));

const started = Date.now();
const outcomes: CaseOutcome[] = [];
const nats = new NatsServers(cases);
for (const [index, spec] of cases.entries()) {
  const found = await nats.serversFor(spec);
  const elapsed = (Date.now() - started) / 1000;
  const left =
    index === 0 ? "" : `, ~${Math.round((elapsed / index) * (cases.length - index))} s left`;
  process.stderr.write(`[${index + 1}/${cases.length}${left}] ${label(spec)} … `);
  const outcome =
    found !== undefined && "error" in found
      ? { ...spec, error: found.error }
      : runInChild(spec, found?.servers);
  await nats.release(index);
  outcomes.push(outcome);
  process.stderr.write(
    isFailure(outcome)
      ? `error: ${outcome.error}\n`
      : `${outcome.msgsPerSecond.toLocaleString("en")} msgs/s\n`,
  );
}
const failures = outcomes.filter(isFailure);
report(outcomes, { quick, subset: only !== undefined ? ([...only] as SystemName[]) : undefined });
if (failures.length > 0) {
  process.stderr.write(`${failures.length} of ${outcomes.length} cases failed (see error).\n`);
  process.exitCode = 1;
}

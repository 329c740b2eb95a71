/**
 * What a bench run prints and keeps: the table of every case (a failed one with its error),
 * Spool's ratios to every appender and, end to end, to the best peer at each shape, the
 * issue's targets checked against this run, and for a whole run `results/latest.json` and
 * the SVG charts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { APPENDERS, END_TO_END_COMPARED, END_TO_END_SHAPES } from "./Cases.js";
import { endToEndChart, latencyChart, throughputChart } from "./Chart.js";
import { BACKLOG_BATCHES_PER_CONSUMER, TAKE_BATCH_MAX } from "./EndToEnd.js";
import {
  type CaseOutcome,
  type CaseResult,
  isEndToEnd,
  isFailure,
  type SystemName,
} from "./Measurement.js";
import { targetsOf } from "./Targets.js";

const MIB = 1024 * 1024;
const round2 = (value: number) => Math.round(value * 100) / 100;

export interface ReportOptions {
  readonly quick: boolean;
  /** The systems of an `--only` run: nothing is written to `results/`. */
  readonly subset: readonly SystemName[] | undefined;
}

/** Finds a measured row (failed cases have no figures to find). */
export type Find = (
  system: SystemName,
  writers: number,
  payloadByteSize?: number,
) => CaseResult | undefined;

function finder(results: readonly CaseResult[]): Find {
  return (system, writers, payloadByteSize = 1024) =>
    results.find(
      (r) => r.system === system && r.writers === writers && r.payloadByteSize === payloadByteSize,
    );
}

function printTable(outcomes: readonly CaseOutcome[]): void {
  console.table(
    outcomes.map((r) => ({
      system: r.system,
      writers: r.writers,
      consumers: r.consumers ?? "",
      size: r.payloadByteSize >= 1024 ? `${r.payloadByteSize / 1024}K` : `${r.payloadByteSize}`,
      ...(isFailure(r)
        ? { error: r.error }
        : {
            "msgs/s": r.msgsPerSecond,
            "MiB/s": r.mibPerSecond,
            flushes: r.flushes ?? "",
            "mean batch": r.meanBatch ?? "",
            "p50 ms": r.p50Ms,
            "p99 ms": r.p99Ms,
            "p999 ms": r.p999Ms,
            "cpu s/100k": r.cpuSecondsPer100k,
            "loop busy": r.eventLoopUtilization,
          }),
    })),
  );
  if (outcomes.some((r) => isEndToEnd(r.system))) {
    process.stdout.write(
      "End-to-end rows (writers = producers): msgs/s acked, latency append → handler; " +
        `producers wait while ${BACKLOG_BATCHES_PER_CONSUMER} × consumers × ${TAKE_BATCH_MAX} ` +
        "messages are appended and not acked.\n",
    );
  }
}

/** Spool (default file adapter) divided by each peer, same writers and message size. */
function appenderRatios(find: Find) {
  return APPENDERS.filter((s) => s !== "spool-file").map((peer) => {
    const row: Record<string, string | number> = { "spool-file ÷": peer };
    for (const [writers, size] of [
      [1, 1024],
      [16, 1024],
      [256, 1024],
      [16, 64 * 1024],
    ] as const) {
      const spool = find("spool-file", writers, size);
      const other = find(peer, writers, size);
      row[`×${writers} ${size / 1024}K`] =
        spool && other ? round2(spool.msgsPerSecond / other.msgsPerSecond) : "";
    }
    return row;
  });
}

/**
 * Acked msgs/s at each producers × consumers shape that ran, and each of Spool's two ways
 * divided by the best peer measured at that shape.
 */
function endToEndRatios(find: Find) {
  const rows = END_TO_END_SHAPES.map(([producers, consumers]) => {
    const acked = (system: SystemName) => find(system, producers)?.msgsPerSecond;
    const best = (["sqlite-queue", "lmdb-queue"] as const)
      .map((system) => find(system, producers))
      .reduce<CaseResult | undefined>(
        (top, peer) =>
          peer === undefined || (top !== undefined && top.msgsPerSecond >= peer.msgsPerSecond)
            ? top
            : peer,
        undefined,
      );
    const row: Record<string, string | number> = { shape: `${producers}×${consumers}` };
    for (const system of END_TO_END_COMPARED) row[system] = acked(system) ?? "";
    row["best peer"] = best?.system ?? "";
    for (const spool of ["spool-consume", "spool-take-ack"] as const) {
      const mine = acked(spool);
      row[`${spool} ÷ best`] =
        mine === undefined || best === undefined ? "" : round2(mine / best.msgsPerSecond);
    }
    return row;
  });
  return rows.filter((row) => END_TO_END_COMPARED.some((system) => row[system] !== ""));
}

/**
 * Spool on JetStream beside the client used directly, at each replicas and writer count that
 * ran, with their ratio (the end-to-end rows on JetStream are in the run's table).
 */
function jetStreamRatios(find: Find) {
  const rows: Record<string, string | number>[] = [];
  for (const replicas of [1, 3] as const) {
    for (const writers of [1, 16, 256]) {
      const spool = find(`spool-jetstream-r${replicas}`, writers)?.msgsPerSecond;
      const direct = find(`jetstream-direct-r${replicas}`, writers)?.msgsPerSecond;
      if (spool === undefined && direct === undefined) continue;
      rows.push({
        replicas,
        writers,
        "Spool msgs/s": spool ?? "",
        "direct msgs/s": direct ?? "",
        "Spool ÷ direct": spool === undefined || direct === undefined ? "" : round2(spool / direct),
      });
    }
  }
  return rows;
}

/**
 * Prints the run's tables and, for a whole run (not `--only`), writes `results/latest.json`
 * and the charts.
 */
export function report(outcomes: readonly CaseOutcome[], options: ReportOptions): void {
  const results = outcomes.filter((r): r is CaseResult => !isFailure(r));
  const find = finder(results);
  printTable(outcomes);
  const ratios = appenderRatios(find);
  if (results.some((r) => r.system === "spool-file")) console.table(ratios);
  const endToEnd = endToEndRatios(find);
  if (endToEnd.length > 0) console.table(endToEnd);
  const jetStream = jetStreamRatios(find);
  if (jetStream.length > 0) console.table(jetStream);
  const { targets, ceiling, inFlight } = targetsOf(find);
  if (inFlight !== undefined && ceiling !== undefined) {
    const spool = find("spool-file", 256);
    const share = spool === undefined ? "" : round2(spool.msgsPerSecond / inFlight.msgsPerSecond);
    process.stdout.write(
      `The disk alone with 256 records in flight (${inFlight.system}): ` +
        `${inFlight.msgsPerSecond.toLocaleString("en")} msgs/s, ${ceiling}× fdatasync per message; ` +
        `Spool reached ${share} of it.\n`,
    );
  }
  // A run of some systems (--only) shows the targets it measured, if any.
  const shown =
    options.subset === undefined ? targets : targets.filter(([, value]) => value !== undefined);
  if (shown.length > 0) {
    console.table(
      shown.map(([target, value, bar]) => ({
        target,
        "this run": value ?? "not run",
        met: value === undefined ? "" : target.includes("≤") ? value <= bar : value >= bar,
      })),
    );
  }
  if (options.subset !== undefined) {
    process.stdout.write(`--only ${options.subset.join(",")}: bench/results left as it was.\n`);
    return;
  }
  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
  const date = new Date().toISOString();
  const fdatasync4k = find("fdatasync-per-message", 1, 4096);
  const json = {
    date,
    machine,
    quick: options.quick,
    disk: {
      fdatasync4kPerSecond: fdatasync4k?.msgsPerSecond ?? null,
      fdatasync4kP50Ms: fdatasync4k?.p50Ms ?? null,
      sequentialDurableMiBPerSecond: find("fdatasync-per-message", 1, MIB)?.mibPerSecond ?? null,
      msync4kP50Ms: find("msync-per-message", 1, 4096)?.p50Ms ?? null,
      msync1MiBMiBPerSecond: find("msync-per-message", 1, MIB)?.mibPerSecond ?? null,
    },
    targets: targets.map(([target, value]) => ({ target, value: value ?? null })),
    fdatasyncPerMessageCeiling256: ceiling ?? null,
    diskInFlight256:
      inFlight === undefined
        ? null
        : { system: inFlight.system, msgsPerSecond: inFlight.msgsPerSecond },
    ratios,
    jetStream,
    endToEnd: {
      takeBatchMax: TAKE_BATCH_MAX,
      backlogBatchesPerConsumer: BACKLOG_BATCHES_PER_CONSUMER,
      ratios: endToEnd,
    },
    failures: outcomes.filter(isFailure).length,
    results: outcomes,
  };
  // A --quick run's figures mean nothing: they are written (so the charts are drawn) where they
  // cannot replace the last whole run's.
  const resultsDir = options.quick
    ? path.join(os.tmpdir(), "spool-bench-quick")
    : path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../results");
  writeCharts(resultsDir, results, options.quick, date);
  writeFileSync(path.join(resultsDir, "latest.json"), `${JSON.stringify(json, null, 2)}\n`);
  console.log(
    `wrote ${resultsDir}: latest.json, throughput.svg, latency-*.svg, end-to-end.svg (${machine})`,
  );
}

function writeCharts(
  resultsDir: string,
  results: readonly CaseResult[],
  quick: boolean,
  date: string,
): void {
  mkdirSync(resultsDir, { recursive: true });
  const subtitle = `${date.slice(0, 10)}, ${os.cpus().length} cores${quick ? ", --quick" : ""}`;
  writeFileSync(path.join(resultsDir, "throughput.svg"), throughputChart(results, subtitle));
  for (const writers of quick ? [16] : [1, 256]) {
    writeFileSync(
      path.join(resultsDir, `latency-${writers}.svg`),
      latencyChart(results, writers, subtitle),
    );
  }
  writeFileSync(path.join(resultsDir, "end-to-end.svg"), endToEndChart(results, subtitle));
}

/**
 * The `spool` command: `spool inspect DIR`, `spool verify DIR`, `spool recover DIR`. `run`
 * takes the arguments and returns the exit code and the text to print, so tests call it
 * directly; `main.ts` is the thin bin around it.
 */
import {
  inspectSpool,
  openSpool,
  type SalvageReport,
  salvageSpool,
  verifySpool,
} from "@spool/actors";

/** What a command printed and how it exits. @example const { exitCode, output } = await run(["verify", dir]) */
export interface CliResult {
  readonly exitCode: number;
  readonly output: string;
}

const USAGE = `usage: spool <command> DIR [--json]

  inspect DIR   segments, records, messages by state, oldest pending message (read-only)
  verify DIR    checks every byte of records and index entries; exits 1 and says what and where
  recover DIR   opens the spool (cutting a torn tail, rebuilding index entries) and reports it;
                refuses a spool with damaged records that valid records follow (SpoolCorrupt)
  recover DIR --salvage
                repairs such a spool first: copies the damaged bytes to DIR/damaged/, keeps every
                valid record, and says exactly which seqs were lost`;

const FLAGS = new Set(["--json", "--salvage"]);

/**
 * Runs one `spool` command.
 *
 * @example
 * const { exitCode, output } = await run(["inspect", "./spool-data"]);
 */
/** What a salvage did, for `spool recover --salvage`. */
function salvageLines(report: SalvageReport): string[] {
  const lost = report.lostSeqs
    .map((range) => (range.from === range.to ? `${range.from}` : `${range.from}..${range.to}`))
    .join(", ");
  return [
    `${report.dir}: salvaged`,
    `  seqs lost ${report.lostSeqCount}${lost === "" ? "" : ` (${lost})`}; records kept after ` +
      `damage ${report.recordsKeptAfterDamage}; padding repaired ${report.repairedSeqs.length}`,
    `  damaged bytes copied to ${report.damagedCopies.join(", ") || "nothing"}`,
  ];
}

/** A one-line progress display on stderr, for terminals only (scripts get clean output). */
function progress(): ((records: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (records) => process.stderr.write(`\r  scanned ${records} records…`);
}

export async function run(args: readonly string[]): Promise<CliResult> {
  const json = args.includes("--json");
  const [command, dir] = args.filter((arg) => !FLAGS.has(arg));
  if (command === undefined || dir === undefined) return { exitCode: 2, output: USAGE };
  const show = (value: unknown, text: string) => (json ? JSON.stringify(value, null, 2) : text);
  switch (command) {
    case "inspect": {
      const onProgress = progress();
      const report = await inspectSpool(dir, onProgress === undefined ? {} : { onProgress });
      const states = Object.entries(report.byState)
        .map(([state, count]) => `${state} ${count}`)
        .join(", ");
      const age =
        report.oldestPendingAgeMs === null ? "none" : `${Math.round(report.oldestPendingAgeMs)} ms`;
      const text = [
        `spool ${report.dir}`,
        `  data segments   ${report.dataSegments.length} (${report.dataSegments.join(", ") || "none"})`,
        `  index segments  ${report.indexSegments.length}`,
        `  bytes on disk   ${report.bytesOnDisk}`,
        `  records         ${report.records} (seq ${report.firstSeq ?? "-"}..${report.lastSeq ?? "-"})`,
        `  messages        ${states}; stored dead letters ${report.storedDeadLetters}`,
        `  oldest pending  ${age}`,
      ].join("\n");
      return { exitCode: 0, output: show(report, text) };
    }
    case "verify": {
      const onProgress = progress();
      const findings = await verifySpool(dir, onProgress === undefined ? {} : { onProgress });
      const text =
        findings.length === 0
          ? `${dir}: every record and index entry is intact`
          : findings.map((f) => `${f.file} at byte ${f.offset}: ${f.problem}`).join("\n");
      return { exitCode: findings.length === 0 ? 0 : 1, output: show(findings, text) };
    }
    case "recover": {
      // Salvage only when asked: it gives up damaged records, an operator's decision.
      const salvage = args.includes("--salvage") ? await salvageSpool(dir) : undefined;
      const spool = await openSpool({ dir });
      await spool.close();
      const r = spool.recovery;
      const text = [
        ...(salvage === undefined ? [] : salvageLines(salvage)),
        `${dir}: recovered in ${Math.round(r.durationMs)} ms`,
        `  records scanned ${r.recordsScanned}, torn tail cut: ${r.tornTailTruncated ? "yes" : "no"}`,
        `  index entries missing ${r.entriesMissing}, rebuilt ${r.entriesRebuilt}, orphaned ${r.entriesOrphaned}`,
        `  leases returned ${r.leasesReturned}; queued ${r.messages.queued}, retrying ${r.messages.retryWait}, dead ${r.messages.dead}`,
      ].join("\n");
      return { exitCode: 0, output: show(salvage === undefined ? r : { salvage, ...r }, text) };
    }
    default:
      return { exitCode: 2, output: `unknown command ${command}\n\n${USAGE}` };
  }
}

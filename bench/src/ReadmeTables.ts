/**
 * `npm run tables -w @spool/bench`: prints the README's Performance tables (every case, the
 * end-to-end shapes, the rows on JetStream, the targets) as Markdown from
 * `results/latest.json`, so the README shows what the last whole run measured, not figures
 * copied by hand.
 */
import { readFileSync } from "node:fs";
import { type CaseResult, jetStreamReplicas, type SystemName } from "./Measurement.js";

/** The README's name of each system. */
const LABELS: Readonly<Record<SystemName, string>> = {
  "spool-file": "**Spool, file**",
  "spool-file-blocking-flush": "Spool, file, blocking flushes",
  "spool-mmap-fdatasync": "Spool, mmap + fdatasync",
  "spool-mmap-msync": "Spool, mmap + msync",
  "bare-file": "bare group-commit loop",
  "fdatasync-per-message": "write + fdatasync per message",
  "msync-per-message": "copy + msync per message",
  lmdb: "lmdb-js 3",
  "sqlite-tx-per-message": "better-sqlite3, tx per message",
  "sqlite-tx-per-tick": "better-sqlite3, tx per tick",
  "level-sync-put": "classic-level, sync put",
  "level-batch-per-tick": "classic-level, batch per tick",
  "spool-threads-8": "Spool, 8 worker threads (shared memory)",
  "spool-threads-8-messages": "Spool, 8 worker threads (port messages)",
  "spool-processes-4": "Spool, 4 processes (socket)",
  "spool-in-thread-file": "Spool in its own thread, file",
  "spool-in-thread-mmap-msync": "Spool in its own thread, msync",
  "disk-in-flight-1": "disk alone, 1 flush in flight",
  "disk-in-flight-2": "disk alone, 2 flushes in flight",
  "disk-in-flight-4": "disk alone, 4 flushes in flight",
  "spool-consume": "**Spool, `consume`**",
  "spool-take-ack": "Spool, `takeMany` + `ack`",
  "sqlite-queue": "better-sqlite3 table queue",
  "lmdb-queue": "lmdb-js queue",
  "spool-consume-one-file-at-a-time": "Spool, `consume`, one file at a time",
  "spool-jetstream-r1": "**Spool on JetStream**",
  "jetstream-direct-r1": "`@nats-io/jetstream`, `js.publish` per writer",
  "spool-jetstream-r3": "**Spool on JetStream**",
  "jetstream-direct-r3": "`@nats-io/jetstream`, `js.publish` per writer",
  "spool-jetstream-consume-r1": "Spool on JetStream, `consume`",
  "spool-jetstream-consume-r3": "Spool on JetStream, `consume`",
};

const number = (value: number | null | undefined) =>
  value === null || value === undefined ? "" : value.toLocaleString("en");
const size = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MiB` : `${bytes / 1024} KiB`;

/** A Markdown table, columns right-aligned but the first. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, 3, ...rows.map((row) => row[i]!.length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `| ${widths.map((width, i) => (i === 0 ? "-".repeat(width) : `${"-".repeat(width - 1)}:`)).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

interface Latest {
  readonly date: string;
  readonly targets: readonly { readonly target: string; readonly value: number | null }[];
  readonly results: readonly (CaseResult & { readonly error?: string })[];
}

const file = new URL("../results/latest.json", import.meta.url);
const latest = JSON.parse(readFileSync(file, "utf8")) as Latest;
/** A `spool-jetstream-r*` row's msgs/s divided by the direct client's at its writers. */
function againstDirect(row: Latest["results"][number]): string {
  if (!row.system.startsWith("spool-jetstream-r") || row.error !== undefined) return "";
  const direct = latest.results.find(
    (r) =>
      r.system === row.system.replace("spool-jetstream", "jetstream-direct") &&
      r.writers === row.writers &&
      r.error === undefined,
  );
  return direct === undefined ? "" : (row.msgsPerSecond / direct.msgsPerSecond).toFixed(2);
}

// The rows on JetStream have a table of their own: a replicated stream, not a local disk.
const local = latest.results.filter((r) => jetStreamReplicas(r.system) === undefined);
const onJetStream = latest.results.filter((r) => jetStreamReplicas(r.system) !== undefined);
const appenders = local.filter((r) => r.consumers === undefined);
const endToEnd = local.filter((r) => r.consumers !== undefined);

process.stdout.write(`Run of ${latest.date}.\n\n`);
process.stdout.write(
  `${table(
    [
      "system",
      "writers",
      "size",
      "msgs/s",
      "MiB/s",
      "mean batch",
      "p50 ms",
      "p99 ms",
      "CPU s / 100k",
    ],
    appenders.map((r) => [
      LABELS[r.system] ?? r.system,
      String(r.writers),
      size(r.payloadByteSize),
      r.error === undefined ? number(r.msgsPerSecond) : `error: ${r.error}`,
      number(r.mibPerSecond),
      number(r.meanBatch),
      number(r.p50Ms),
      number(r.p99Ms),
      number(r.cpuSecondsPer100k),
    ]),
  )}\n\n`,
);
process.stdout.write(
  `${table(
    [
      "system",
      "producers × consumers",
      "acked msgs/s",
      "p50 ms",
      "p99 ms",
      "CPU s / 100k",
      "loop busy",
    ],
    endToEnd.map((r) => [
      LABELS[r.system] ?? r.system,
      `${r.writers} × ${r.consumers}`,
      r.error === undefined ? number(r.msgsPerSecond) : `error: ${r.error}`,
      number(r.p50Ms),
      number(r.p99Ms),
      number(r.cpuSecondsPer100k),
      number(r.eventLoopUtilization),
    ]),
  )}\n\n`,
);
if (onJetStream.length > 0) {
  process.stdout.write(
    `${table(
      [
        "system",
        "servers (replicas)",
        "writers (producers × consumers)",
        "msgs/s",
        "Spool ÷ direct",
        "mean batch",
        "p50 ms",
        "p99 ms",
        "CPU s / 100k",
      ],
      onJetStream.map((r) => [
        LABELS[r.system] ?? r.system,
        String(jetStreamReplicas(r.system)),
        r.consumers === undefined ? String(r.writers) : `${r.writers} × ${r.consumers}`,
        r.error === undefined ? number(r.msgsPerSecond) : `error: ${r.error}`,
        againstDirect(r),
        number(r.meanBatch),
        number(r.p50Ms),
        number(r.p99Ms),
        number(r.cpuSecondsPer100k),
      ]),
    )}\n\n`,
  );
}
process.stdout.write(
  `${table(
    ["target", "this run"],
    latest.targets.map(({ target, value }) => [
      target,
      value === null ? "(not run)" : String(value),
    ]),
  )}\n`,
);

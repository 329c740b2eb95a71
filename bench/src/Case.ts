/**
 * One benchmark case, run in its own child process: `tsx src/Case.ts '<json>' [<nats urls>]`
 * prints one JSON line with the figures. A JetStream case takes its servers' URLs (the run
 * starts them: NatsServers.ts).
 */
import { spawn } from "node:child_process";
import { rmSync, writeSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";
import { openSpool, openSpoolThread, type Spool, serveWriters } from "@spool/actors";
import { fileAdapter, mmapAdapter } from "@spool/adapters";
import { type AdapterFactory, recordByteSize } from "@spool/core";
import { openBareLoop } from "./BareLoop.js";
import { runEndToEnd } from "./EndToEnd.js";
import { openJetStreamAppender } from "./JetStreamSystems.js";
import type { LaneReport, LaneWindow } from "./Lanes.js";
import {
  type CaseFailure,
  type CaseResult,
  type CaseSpec,
  isEndToEnd,
  jetStreamReplicas,
  latencyHistogram,
  type SystemName,
  summarize,
  WARM_UP_MS,
  warmUpMsOf,
} from "./Measurement.js";
import {
  fdatasyncPerMessage,
  levelPerMessage,
  levelPerTick,
  lmdb,
  msyncPerMessage,
  PREALLOCATED_FILE_BYTE_SIZE,
  preallocatedFile,
  type System,
  sqlitePerMessage,
  sqlitePerTick,
} from "./Peers.js";

/** The file adapter option the `spool-file-blocking-flush` rows use (not the default). */
export const BLOCKING_FLUSH_BYTE_SIZE_MAX = 64 * 1024;

function adapterOf(system: SystemName): AdapterFactory {
  if (system === "spool-mmap-fdatasync") return mmapAdapter({ flushMethod: "fdatasync" });
  if (system === "spool-mmap-msync") return mmapAdapter({ flushMethod: "msync" });
  if (system === "spool-file-blocking-flush") {
    return fileAdapter({ blockingFlushByteSizeMax: BLOCKING_FLUSH_BYTE_SIZE_MAX });
  }
  return fileAdapter();
}

const PEERS: Partial<Record<SystemName, (dir: string) => Promise<System>>> = {
  "fdatasync-per-message": fdatasyncPerMessage,
  "msync-per-message": msyncPerMessage,
  lmdb,
  "sqlite-tx-per-message": sqlitePerMessage,
  "sqlite-tx-per-tick": sqlitePerTick,
  "level-sync-put": levelPerMessage,
  "level-batch-per-tick": levelPerTick,
};

async function openSystem(spec: CaseSpec, natsServers: string | undefined): Promise<System> {
  const peer = PEERS[spec.system];
  if (peer !== undefined) return peer(spec.dir);
  if (jetStreamReplicas(spec.system) !== undefined) {
    return openJetStreamAppender(spec, serversOf(spec, natsServers));
  }
  if (spec.system === "bare-file") {
    const bare = await openBareLoop(fileAdapter(), spec.dir, spec.segmentByteSize);
    return {
      writer: () => (p: Uint8Array) => bare.append(p),
      flushes: bare.flushes,
      close: bare.close,
    };
  }
  if (spec.system === "spool-in-thread-file" || spec.system === "spool-in-thread-mmap-msync") {
    // The other placement: the spool in a thread of its own, this thread's lanes sharing one
    // writer connected to it (as a worker thread's lanes do).
    const spool = await openSpoolThread({
      dir: spec.dir,
      segmentByteSize: spec.segmentByteSize,
      adapter: spec.system === "spool-in-thread-file" ? "file" : "mmap-msync",
    });
    const writer = await spool.writer();
    return {
      writer: () => (p: Uint8Array) => writer.append(p),
      // The spool's stats live in its thread, behind an await the sampling loop cannot take.
      flushes: () => undefined,
      close: async () => {
        writer.close();
        await spool.close();
      },
    };
  }
  const spool = await openSpool({
    dir: spec.dir,
    adapter: adapterOf(spec.system),
    segmentByteSize: spec.segmentByteSize,
  });
  return {
    writer: () => {
      const handle = spool.writer();
      return (p: Uint8Array) => handle.append(p);
    },
    flushes: () => spool.stats().flushes,
    close: () => spool.close(),
  };
}

/** A remote writer of a case (a thread or a process): started, then told its window. */
interface Remote {
  readonly begin: (window: LaneWindow) => void;
  readonly report: () => Promise<LaneReport>;
  readonly stop: () => Promise<unknown>;
}

/**
 * Runs `remotes` (all ready) through one measuring window against `spool`: the same warm-up,
 * CPU, event-loop and flush accounting as the in-process cases, in this process.
 */
async function measureRemotes(
  spec: CaseSpec,
  spool: Spool,
  remotes: readonly Remote[],
): Promise<CaseResult> {
  const warmUntil = Date.now() + WARM_UP_MS;
  const window = { warmUntil, stopAt: warmUntil + spec.seconds * 1000 };
  for (const remote of remotes) remote.begin(window);
  const eluStart = performance.eventLoopUtilization();
  let flushesAtStart = 0;
  let cpuAtStart = process.cpuUsage();
  const warm = setTimeout(() => {
    flushesAtStart = spool.stats().flushes;
    cpuAtStart = process.cpuUsage();
  }, WARM_UP_MS);
  const reports = await Promise.all(remotes.map((remote) => remote.report()));
  clearTimeout(warm);
  const cpu = process.cpuUsage(cpuAtStart);
  const eventLoopUtilization = performance.eventLoopUtilization(eluStart).utilization;
  const flushes = spool.stats().flushes - flushesAtStart;
  const histogram = latencyHistogram();
  let count = 0;
  for (const report of reports) {
    count += report.count;
    for (const ms of report.latencies) histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }
  await Promise.all(remotes.map((remote) => remote.stop()));
  return summarize(spec, count, spec.seconds, flushes, histogram, eventLoopUtilization, cpu);
}

const THREADS = 8;

/**
 * Appends from 8 worker threads through `spool.port()` / `connectWriter`, `writers / 8` in
 * flight in each: the same load as the in-process case with as many writers, crossing threads.
 * `spool-threads-8` hands requests over in shared memory (the default), the `-messages` row
 * as port messages (`sharedMemory: false`).
 */
async function runThreads(spec: CaseSpec): Promise<CaseResult> {
  const sharedMemory = spec.system !== "spool-threads-8-messages";
  const spool = await openSpool({ dir: spec.dir, segmentByteSize: spec.segmentByteSize });
  const entry = new URL("./ThreadWriter.ts", import.meta.url).href;
  const remotes = await Promise.all(
    Array.from({ length: THREADS }, async (): Promise<Remote> => {
      const port = spool.port({ sharedMemory });
      const worker = new Worker(new URL("./boot.mjs", import.meta.url), {
        workerData: {
          entry,
          port,
          writers: spec.writers / THREADS,
          payloadByteSize: spec.payloadByteSize,
        },
        transferList: [port],
      });
      const next = <T>() => new Promise<T>((resolve) => worker.once("message", resolve));
      await next();
      return {
        begin: (window) => worker.postMessage(window),
        report: () => next<LaneReport>(),
        stop: () => worker.terminate(),
      };
    }),
  );
  const result = await measureRemotes(spec, spool, remotes);
  await spool.close();
  rmSync(spec.dir, { recursive: true, force: true });
  return result;
}

const PROCESSES = 4;

/**
 * Appends from 4 writer processes over the spool's Unix socket (`serveWriters` /
 * `connectSocketWriter`), `writers / 4` in flight in each: the in-process load, across processes.
 * The CPU figure is the spool's process only.
 */
async function runProcesses(spec: CaseSpec): Promise<CaseResult> {
  const spool = await openSpool({ dir: spec.dir, segmentByteSize: spec.segmentByteSize });
  const server = await serveWriters(spool);
  const script = new URL("./ProcessWriter.ts", import.meta.url).pathname;
  const remotes = await Promise.all(
    Array.from({ length: PROCESSES }, async (): Promise<Remote> => {
      const args = [server.path, String(spec.writers / PROCESSES), String(spec.payloadByteSize)];
      const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      const next = async <T>() => JSON.parse((await lines.next()).value as string) as T;
      const exited = new Promise((resolve) => child.on("exit", resolve));
      await next();
      return {
        begin: (window) => child.stdin!.write(`${JSON.stringify(window)}\n`),
        report: async () => {
          const { count, latencies } = await next<{ count: number; latencies: string }>();
          // Copied out of Buffer's pool, whose offsets need not be 8-byte aligned.
          const bytes = new Uint8Array(Buffer.from(latencies, "base64"));
          return { count, latencies: new Float64Array(bytes.buffer, 0, count) };
        },
        stop: () => exited,
      };
    }),
  );
  const result = await measureRemotes(spec, spool, remotes);
  await server.close();
  await spool.close();
  rmSync(spec.dir, { recursive: true, force: true });
  return result;
}

/**
 * The disk alone with `writers` records in flight, as close-looped writers allow at most:
 * K flushers (the system's suffix) each write their share (`writers / K` records of the record
 * format's size) at the next offset of a pre-zeroed file, synchronously as the file adapter
 * does, then fdatasync through a descriptor of their own, and go again. Nothing per record: no
 * encoding, checksum, promise or latency sample. What any design that makes each appender
 * wait for durability can reach with that many appenders, at best, on this disk in this run.
 * A record's latency is its flush's write + fdatasync.
 */
async function runDiskInFlight(spec: CaseSpec): Promise<CaseResult> {
  const flushers = Number(spec.system.slice("disk-in-flight-".length));
  const records = Math.ceil(spec.writers / flushers);
  const bytes = records * recordByteSize(spec.payloadByteSize);
  const file = await preallocatedFile(spec.dir, "in-flight.bin");
  const handles = await Promise.all(Array.from({ length: flushers }, () => open(file, "r+")));
  const data = new Uint8Array(bytes).fill(42);
  const histogram = latencyHistogram();
  let offset = 0;
  let measuring = false;
  let messages = 0;
  let flushes = 0;
  let startedAt = 0;
  let cpuAtStart = process.cpuUsage();
  const warmUntil = performance.now() + WARM_UP_MS;
  const stopAt = warmUntil + spec.seconds * 1000;
  const flusher = async (handle: FileHandle): Promise<void> => {
    for (;;) {
      const now = performance.now();
      if (now >= stopAt) return;
      if (!measuring && now >= warmUntil) {
        measuring = true;
        cpuAtStart = process.cpuUsage();
        startedAt = now;
      }
      if (offset + bytes > PREALLOCATED_FILE_BYTE_SIZE) offset = 0;
      const at = offset;
      offset += bytes;
      writeSync(handle.fd, data, 0, bytes, at);
      await handle.datasync();
      if (measuring) {
        messages += records;
        flushes += 1;
        const micros = Math.max(1, Math.round((performance.now() - now) * 1000));
        histogram.recordValueWithCount(micros, records);
      }
    }
  };
  const eluStart = performance.eventLoopUtilization();
  await Promise.all(handles.map(flusher));
  const eventLoopUtilization = performance.eventLoopUtilization(eluStart).utilization;
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  await Promise.all(handles.map((handle) => handle.close()));
  rmSync(spec.dir, { recursive: true, force: true });
  return summarize(spec, messages, elapsedSeconds, flushes, histogram, eventLoopUtilization, cpu);
}

/** The servers a JetStream case was handed; a case run by hand without them is told so. */
function serversOf(spec: CaseSpec, natsServers: string | undefined): string {
  if (natsServers !== undefined) return natsServers;
  throw new Error(`${spec.system} runs on NATS servers: pass their URLs after the spec`);
}

export async function runCase(spec: CaseSpec, natsServers?: string): Promise<CaseResult> {
  rmSync(spec.dir, { recursive: true, force: true });
  if (spec.system.startsWith("disk-in-flight-")) return runDiskInFlight(spec);
  if (spec.system === "spool-threads-8" || spec.system === "spool-threads-8-messages") {
    return runThreads(spec);
  }
  if (spec.system === "spool-processes-4") return runProcesses(spec);
  if (isEndToEnd(spec.system)) {
    const onJetStream = jetStreamReplicas(spec.system) !== undefined;
    return runEndToEnd(spec, onJetStream ? serversOf(spec, natsServers) : undefined);
  }
  const system = await openSystem(spec, natsServers);
  const histogram = latencyHistogram();
  const payload = new Uint8Array(spec.payloadByteSize).fill(42);
  // Warm up the JIT and the page cache before measuring.
  const warmUntil = performance.now() + warmUpMsOf(spec);
  let measuring = false;
  let messages = 0;
  const stopAt = warmUntil + spec.seconds * 1000;
  let flushesAtStart: number | undefined = 0;
  let cpuAtStart = process.cpuUsage();
  let startedAt = 0;
  const writer = async (): Promise<void> => {
    const append = system.writer();
    for (;;) {
      const now = performance.now();
      if (now >= stopAt) return;
      if (!measuring && now >= warmUntil) {
        measuring = true;
        flushesAtStart = system.flushes();
        cpuAtStart = process.cpuUsage();
        startedAt = now;
      }
      await append(payload);
      if (measuring) {
        messages += 1;
        histogram.recordValue(Math.max(1, Math.round((performance.now() - now) * 1000)));
      }
    }
  };
  const eluStart = performance.eventLoopUtilization();
  await Promise.all(Array.from({ length: spec.writers }, writer));
  const eventLoopUtilization = performance.eventLoopUtilization(eluStart).utilization;
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  const flushesAtEnd = system.flushes();
  const flushes =
    flushesAtEnd === undefined || flushesAtStart === undefined
      ? null
      : flushesAtEnd - flushesAtStart;
  await system.close();
  rmSync(spec.dir, { recursive: true, force: true });
  return summarize(spec, messages, elapsedSeconds, flushes, histogram, eventLoopUtilization, cpu);
}

/** An error as one line for the row: its tag or name, and its message. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const tag = (error as { readonly _tag?: unknown })._tag;
  return `${typeof tag === "string" ? tag : error.name}: ${error.message}`;
}

if (process.argv[2] !== undefined) {
  const spec = JSON.parse(process.argv[2]) as CaseSpec;
  // The last line out is the row: the figures, or the error (thrown, or a promise nobody
  // awaited rejecting) in their place, so the run reports the case and goes on to the next.
  const fail = (error: unknown): never => {
    console.error(error);
    const failure: CaseFailure = { ...spec, error: describeError(error) };
    writeSync(1, `${JSON.stringify(failure)}\n`);
    rmSync(spec.dir, { recursive: true, force: true });
    process.exit(1);
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
  const result = await runCase(spec, process.argv[3]).catch(fail);
  writeSync(1, `${JSON.stringify(result)}\n`);
}

/**
 * One benchmark case, run in its own child process: `tsx src/Case.ts '<json>'` prints one JSON
 * line with the figures.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { openSpool } from "@spool/actors";
import { fileAdapter, mmapAdapter } from "@spool/adapters";
import type { AdapterFactory, FlushAdapter } from "@spool/core";
import hdr from "hdr-histogram-js";
import { openBareLoop } from "./BareLoop.js";

export type SystemName =
  | "spool-file"
  | "spool-mmap-fdatasync"
  | "spool-mmap-msync"
  | "bare-file"
  | "fdatasync-4k"
  | "spool-take-ack"
  | "spool-take-ack-one-file-at-a-time";

export interface CaseSpec {
  readonly system: SystemName;
  readonly writers: number;
  readonly payloadByteSize: number;
  readonly seconds: number;
  readonly dir: string;
  /** One segment large enough for the whole case, so no case pays for a roll. */
  readonly segmentByteSize: number;
}

export interface CaseResult extends CaseSpec {
  readonly messages: number;
  readonly msgsPerSecond: number;
  readonly mibPerSecond: number;
  readonly flushes: number;
  readonly meanBatch: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly cpuSecondsPer100k: number;
  /** Share of the run the event loop was busy (warm-up included): the JavaScript thread's load. */
  readonly eventLoopUtilization: number;
}

/** Microsecond latencies up to 10 s, three significant digits. */
function latencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 10_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function adapterOf(system: SystemName): AdapterFactory {
  if (system === "spool-mmap-fdatasync") return mmapAdapter({ flushMethod: "fdatasync" });
  if (system === "spool-mmap-msync") return mmapAdapter({ flushMethod: "msync" });
  return fileAdapter();
}

/** The disk's own figure: one 4 KiB pwrite + fdatasync per message into a pre-zeroed file. */
async function openFdatasyncLoop(spec: CaseSpec) {
  const file = path.join(spec.dir, "fdatasync.bin");
  mkdirSync(spec.dir, { recursive: true });
  writeFileSync(file, Buffer.alloc(64 * 1024 * 1024));
  const handle = await fs.open(file, "r+");
  await handle.datasync();
  let offset = 0;
  let flushes = 0;
  return {
    writer: () => async (payload: Uint8Array) => {
      await handle.write(payload, 0, payload.byteLength, offset);
      offset = (offset + payload.byteLength) % (64 * 1024 * 1024);
      await handle.datasync();
      flushes += 1;
    },
    flushes: () => flushes,
    close: () => handle.close(),
  };
}

async function openSystem(spec: CaseSpec) {
  if (spec.system === "fdatasync-4k") return openFdatasyncLoop(spec);
  if (spec.system === "bare-file") {
    const bare = await openBareLoop(fileAdapter(), spec.dir, spec.segmentByteSize);
    return {
      writer: () => (p: Uint8Array) => bare.append(p),
      flushes: bare.flushes,
      close: bare.close,
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

/**
 * Messages through the whole queue: `writers` appenders and a `consume` loop of as many
 * handlers (take, handle, ack) run at once; the figures count handled messages, and the
 * latency is from append to handler.
 */
/**
 * The file adapter with every write and flush of the data file and the index file taken one
 * at a time, as if one synchronizer served both files: the design Spool did not take, measured
 * against the one it did (a synchronizer per file).
 */
function oneFileAtATime(): AdapterFactory {
  const inner = fileAdapter();
  let turn: Promise<unknown> = Promise.resolve();
  const serialized = <T>(run: () => Promise<T>): Promise<T> => {
    const result = turn.then(run);
    turn = result.catch(() => undefined);
    return result;
  };
  return async (options) => {
    const adapter = await inner(options);
    const wrapped: FlushAdapter = {
      name: `${adapter.name}, one file at a time`,
      readManifest: (name) => adapter.readManifest(name),
      writeManifest: (text, name) => adapter.writeManifest(text, name),
      listSegments: () => adapter.listSegments(),
      prepareSegment: (segment) => adapter.prepareSegment(segment),
      removeSegment: (segment) => adapter.removeSegment(segment),
      isMapped: (segment) => adapter.isMapped(segment),
      map: (segment) => adapter.map(segment),
      stage: (region) => adapter.stage(region),
      write: (region) => serialized(() => adapter.write(region)),
      flush: (region, mode) => serialized(() => adapter.flush(region, mode)),
      read: (segment, offset, size) => adapter.read(segment, offset, size),
      close: () => adapter.close(),
    };
    return wrapped;
  };
}

async function runTakeAck(spec: CaseSpec): Promise<CaseResult> {
  const spool = await openSpool({
    dir: spec.dir,
    segmentByteSize: spec.segmentByteSize,
    ...(spec.system === "spool-take-ack-one-file-at-a-time" ? { adapter: oneFileAtATime() } : {}),
  });
  const histogram = latencyHistogram();
  const payload = new Uint8Array(spec.payloadByteSize).fill(42);
  const warmUntil = performance.now() + 250;
  const stopAt = warmUntil + spec.seconds * 1000;
  let acked = 0;
  let startedAt = 0;
  let flushesAtStart = 0;
  let cpuAtStart = process.cpuUsage();
  // Each payload carries its append time, so a delivery's latency is append → handler.
  const appender = async (): Promise<void> => {
    const writer = spool.writer();
    while (performance.now() < stopAt) {
      const stamped = payload.slice();
      new DataView(stamped.buffer).setFloat64(0, performance.now(), true);
      await writer.append(stamped);
    }
  };
  const eluStart = performance.eventLoopUtilization();
  const consumer = spool.consume(
    ({ payload: delivered }) => {
      const now = performance.now();
      if (startedAt === 0 && now >= warmUntil) {
        startedAt = now;
        flushesAtStart = spool.stats().flushes;
        cpuAtStart = process.cpuUsage();
      }
      if (startedAt !== 0 && now < stopAt) {
        acked += 1;
        const appendedAt = new DataView(
          delivered.buffer,
          delivered.byteOffset,
          delivered.byteLength,
        ).getFloat64(0, true);
        histogram.recordValue(Math.max(1, Math.round((now - appendedAt) * 1000)));
      }
    },
    { concurrency: spec.writers },
  );
  await Promise.all(Array.from({ length: spec.writers }, appender));
  await consumer.stop();
  const eventLoopUtilization = performance.eventLoopUtilization(eluStart).utilization;
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  const flushes = spool.stats().flushes - flushesAtStart;
  await spool.close();
  rmSync(spec.dir, { recursive: true, force: true });
  return summarize(spec, acked, elapsedSeconds, flushes, histogram, eventLoopUtilization, cpu);
}

function summarize(
  spec: CaseSpec,
  messages: number,
  elapsedSeconds: number,
  flushes: number,
  histogram: hdr.Histogram,
  eventLoopUtilization: number,
  cpu: NodeJS.CpuUsage,
): CaseResult {
  const microsToMs = (value: number) => Math.round(value) / 1000;
  return {
    ...spec,
    messages,
    msgsPerSecond: Math.round(messages / elapsedSeconds),
    mibPerSecond:
      Math.round(((messages * spec.payloadByteSize) / elapsedSeconds / 1048576) * 10) / 10,
    flushes,
    meanBatch: flushes === 0 ? 0 : Math.round((messages / flushes) * 10) / 10,
    p50Ms: microsToMs(histogram.getValueAtPercentile(50)),
    p99Ms: microsToMs(histogram.getValueAtPercentile(99)),
    p999Ms: microsToMs(histogram.getValueAtPercentile(99.9)),
    eventLoopUtilization: Math.round(eventLoopUtilization * 100) / 100,
    cpuSecondsPer100k:
      Math.round(((cpu.user + cpu.system) / 1e6 / Math.max(1, messages)) * 100_000 * 100) / 100,
  };
}

export async function runCase(spec: CaseSpec): Promise<CaseResult> {
  rmSync(spec.dir, { recursive: true, force: true });
  if (spec.system === "spool-take-ack" || spec.system === "spool-take-ack-one-file-at-a-time") {
    return runTakeAck(spec);
  }
  const system = await openSystem(spec);
  const histogram = latencyHistogram();
  const payload = new Uint8Array(spec.payloadByteSize).fill(42);
  // Warm up the JIT and the page cache for a quarter second before measuring.
  const warmUntil = performance.now() + 250;
  let measuring = false;
  let messages = 0;
  const stopAt = warmUntil + spec.seconds * 1000;
  let flushesAtStart = 0;
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
  const flushes = system.flushes() - flushesAtStart;
  await system.close();
  rmSync(spec.dir, { recursive: true, force: true });
  return summarize(spec, messages, elapsedSeconds, flushes, histogram, eventLoopUtilization, cpu);
}

if (process.argv[2] !== undefined) {
  const result = await runCase(JSON.parse(process.argv[2]) as CaseSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

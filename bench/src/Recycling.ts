/**
 * `npm run recycling -w @spool/bench -- [--seconds 30] [--rounds 2] [--shapes 16x16,256x64]
 * [--segment-mib 64] [--configurations never-rolls,recycled,zero-filled]`:
 * issue 20's "steady state never zero-fills". Producers append 1 KiB durably while consumers
 * take and ack durably (producers held back at the end-to-end cases' backlog bound, so
 * consumers keep up and segments are reclaimed as fast as they fill), for `--seconds` after a
 * warm-up, in three configurations run interleaved, round after round:
 *
 * - `never-rolls`: one segment sized for the whole run (zero-filled before it starts);
 * - `recycled`: 64 MiB segments (or `--segment-mib`), reclaimed ones recycled as the next (the
 *   default);
 * - `zero-filled`: the same segments, every new one zero-filled (recycling off).
 *
 * Prints appended msgs/s per run and the ratios to `never-rolls` of the same round.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openSpool, type Spool } from "@spool/actors";
import { delegatingAdapter, fileAdapter } from "@spool/adapters";
import type { AdapterFactory } from "@spool/core";
import { backlogMax, TAKE_BATCH_MAX } from "./EndToEnd.js";
import { WARM_UP_MS } from "./Measurement.js";

const MIB = 1024 * 1024;
const PAYLOAD_BYTE_SIZE = 1024;
/** Room for 100,000 appends/s of 1 KiB for the run: over twice what these rows reached here. */
const APPENDS_PER_SECOND_BOUND = 100_000;

type Configuration = "never-rolls" | "recycled" | "zero-filled";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? (args[at + 1] ?? fallback) : fallback;
};
const seconds = Number(flag("--seconds", "30"));
/** The rolling configurations' segment: the default, or smaller to roll more often per run. */
const rollingSegmentByteSize = Number(flag("--segment-mib", "64")) * MIB;
const rounds = Number(flag("--rounds", "2"));
const shapes = flag("--shapes", "16x16,256x64")
  .split(",")
  .map((shape) => shape.split("x").map(Number) as [number, number]);

/** The file adapter with `recycleSegment` taken away: every new segment is zero-filled. */
function withoutRecycling(): AdapterFactory {
  const inner = fileAdapter();
  return async (options) => {
    const adapter = await inner(options);
    const { recycleSegment: _dropped, ...rest } = delegatingAdapter(adapter);
    return rest;
  };
}

async function open(configuration: Configuration, dir: string): Promise<Spool> {
  const neverRolls = Math.ceil(
    (APPENDS_PER_SECOND_BOUND * (seconds + WARM_UP_MS / 1000 + 2) * (PAYLOAD_BYTE_SIZE + 40)) / MIB,
  );
  return openSpool({
    dir,
    segmentByteSize:
      configuration === "never-rolls" ? Math.min(4095, neverRolls) * MIB : rollingSegmentByteSize,
    ...(configuration === "zero-filled" ? { adapter: withoutRecycling() } : {}),
  });
}

interface RunResult {
  readonly appendsPerSecond: number;
  readonly zeroFilled: number;
  readonly recycled: number;
  readonly reclaimed: number;
}

async function run(
  configuration: Configuration,
  producers: number,
  consumers: number,
): Promise<RunResult> {
  const dir = mkdtempSync(path.join(tmpdir(), `spool-recycling-${configuration}-`));
  const spool = await open(configuration, dir);
  const bound = backlogMax(consumers);
  let backlog = 0;
  let waiting: (() => void)[] = [];
  let ready: (() => void)[] = [];
  let stopping = false;
  let measuring = false;
  let appended = 0;
  const release = (count: number) => {
    backlog -= count;
    while (backlog < bound && waiting.length > 0) {
      backlog += 1;
      waiting.shift()!();
    }
  };
  const payload = new Uint8Array(PAYLOAD_BYTE_SIZE).fill(42);
  const producer = async () => {
    const writer = spool.writer();
    while (!stopping) {
      if (backlog < bound) backlog += 1;
      else await new Promise<void>((admit) => waiting.push(admit));
      if (stopping) return;
      await writer.append(payload);
      if (measuring) appended += 1;
      ready.shift()?.();
    }
  };
  const consumer = async () => {
    while (!stopping) {
      const taken = await spool.takeMany(TAKE_BATCH_MAX);
      if (taken.length === 0) {
        await new Promise<void>((wake) => ready.push(wake));
        continue;
      }
      await Promise.all(taken.map((lease) => spool.ack(lease.seq)));
      release(taken.length);
    }
  };
  const working = Promise.all([
    ...Array.from({ length: producers }, producer),
    ...Array.from({ length: consumers }, consumer),
  ]);
  await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
  const startedAt = performance.now();
  measuring = true;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - startedAt) / 1000;
  stopping = true;
  for (const wake of [...waiting, ...ready]) wake();
  waiting = [];
  ready = [];
  const wakeLoop = setInterval(() => {
    for (const wake of [...waiting.splice(0), ...ready.splice(0)]) wake();
  }, 10);
  await working;
  clearInterval(wakeLoop);
  const stats = spool.stats();
  await spool.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    appendsPerSecond: appended / elapsed,
    zeroFilled: stats.segmentsZeroFilled,
    recycled: stats.segmentsRecycled,
    reclaimed: stats.segmentsReclaimed,
  };
}

const configurations = flag("--configurations", "never-rolls,recycled,zero-filled").split(
  ",",
) as Configuration[];
for (const [producers, consumers] of shapes) {
  for (let round = 1; round <= rounds; round++) {
    const results = new Map<Configuration, RunResult>();
    for (const configuration of configurations) {
      const result = await run(configuration, producers, consumers);
      results.set(configuration, result);
      process.stdout.write(
        `${producers}x${consumers} round ${round} ${configuration.padEnd(11)} ` +
          `${Math.round(result.appendsPerSecond).toLocaleString("en-US").padStart(8)} appends/s ` +
          `(segments: ${result.zeroFilled} zero-filled, ${result.recycled} recycled, ` +
          `${result.reclaimed} reclaimed)\n`,
      );
    }
    const base = results.get("never-rolls")?.appendsPerSecond;
    const ratios = [...results]
      .filter(([configuration]) => configuration !== "never-rolls")
      .map(([configuration, result]) =>
        base === undefined ? "" : `${configuration} ${(result.appendsPerSecond / base).toFixed(3)}`,
      );
    process.stdout.write(
      `${producers}x${consumers} round ${round} ratios to never-rolls: ${ratios.join(", ")}\n`,
    );
  }
}

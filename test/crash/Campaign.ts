/**
 * The crash campaign: a worker process (`worker.ts`) appends, takes and acks on real files as
 * fast as it can and writes each acknowledgement synchronously to a file; it is SIGKILLed at a
 * random moment once it has done some work; the spool is reopened here and checked: every acknowledged append present and
 * byte-identical, no acknowledged message delivered again, every unacknowledged one still there
 * (bar at most one ack per taker per round that became durable before it could be printed);
 * then the checker acks what it took, so every round starts from a drained spool.
 * `npm run crash -- --runs N` and `KillRestart.test.ts` run it.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { openSpool } from "@spool/actors";
import { readRecordsIndependently } from "./IndependentReader.js";

/** What a campaign checked. */
export interface CampaignResult {
  readonly rounds: number;
  readonly acknowledgedAppends: number;
  readonly acknowledgedAcks: number;
  /** Of those, acks the killed workers reported (the rest are the checker's own). */
  readonly workerAcks: number;
  readonly lost: number;
}

/** A broken promise, with the round it broke in. */
export class CampaignFailed extends Error {}

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Bytes of promises a worker must have written before it is killed: about a hundred appends,
 * so that every round cuts real work short however slowly a loaded machine runs the worker.
 */
const PROMISED_BYTE_SIZE_MIN = 64 * 1024;
/** How often the size of the promises file is looked at once the kill is due. */
const PROMISES_POLL_MS = 10;

/**
 * Runs the worker until `ms` after it is ready (and it has written at least
 * {@link PROMISED_BYTE_SIZE_MIN} bytes of promises), SIGKILLs it, and returns the complete
 * lines it wrote: a line the kill cut short was never finished, so never promised.
 */
async function runAndKill(dir: string, round: number, ms: number): Promise<string> {
  const scratch = mkdtempSync(path.join(tmpdir(), "spool-crash-promises-"));
  const promisesFile = path.join(scratch, `round-${round}.log`);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "--conditions=spool-source",
          path.join(here, "worker.ts"),
          dir,
          String(round),
          promisesFile,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let ready = false;
      let errors = "";
      let timer: NodeJS.Timeout | undefined;
      const killOnceWorked = () => {
        const written = statSync(promisesFile, { throwIfNoEntry: false })?.size ?? 0;
        if (written >= PROMISED_BYTE_SIZE_MIN) child.kill("SIGKILL");
        else timer = setTimeout(killOnceWorked, PROMISES_POLL_MS);
      };
      child.stdout.on("data", (chunk: Buffer) => {
        if (ready || !chunk.toString("utf8").includes("READY")) return;
        ready = true;
        timer = setTimeout(killOnceWorked, ms);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        errors += chunk.toString("utf8");
      });
      child.on("error", reject);
      child.on("exit", (_code, signal) => {
        clearTimeout(timer);
        if (signal !== "SIGKILL") reject(new Error(`worker exited on its own: ${errors}`));
        else resolve();
      });
    });
    const written = readFileSync(promisesFile, "utf8");
    return written.slice(0, written.lastIndexOf("\n") + 1);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const options = (dir: string) => ({
  dir,
  segmentByteSize: 256 * 1024,
  indexSegmentEntries: 1024,
  maxAttempts: 1000,
});

/**
 * The smallest key, by a loop: `Math.min(...keys)` overflows the call stack once a spool holds
 * a few hundred thousand records (it did, at round 145 of 200).
 */
function smallest(keys: Iterable<number>): number {
  let least = Number.POSITIVE_INFINITY;
  for (const key of keys) if (key < least) least = key;
  return least;
}

/** Runs `rounds` kill-and-check rounds on `dir`; throws CampaignFailed on a broken promise. */
export async function runCampaign(
  dir: string,
  rounds: number,
  progress: (round: number) => void = () => {},
): Promise<CampaignResult> {
  const appended = new Map<number, string>();
  const acked = new Set<number>();
  let workerAcks = 0;
  const check = (holds: boolean, round: number, what: string) => {
    if (!holds) throw new CampaignFailed(`round ${round}: ${what} (spool kept in ${dir})`);
  };
  for (let round = 0; round < rounds; round++) {
    // Killed at a different moment each round, after the worker has started working.
    const output = await runAndKill(dir, round, 150 + Math.floor(Math.random() * 650));
    for (const line of output.split("\n")) {
      if (line.startsWith("A ")) {
        const [, seqText, payload] = line.split(" ");
        appended.set(Number(seqText), payload!);
      } else if (line.startsWith("K ")) {
        acked.add(Number(line.slice(2)));
        workerAcks++;
      }
    }
    // First with a reader that shares no code with Spool, on the files as the kill left them.
    const independent = readRecordsIndependently(dir);
    const firstOnDisk = smallest(independent.keys());
    for (const [seq, payload] of appended) {
      if (seq < firstOnDisk) continue;
      check(independent.get(seq) === payload, round, `append ${seq} missing or changed on disk`);
    }
    const spool = await openSpool(options(dir));
    const present = new Map<number, string>();
    for await (const record of spool.records()) {
      present.set(record.seq, new TextDecoder().decode(record.payload));
    }
    const oldest = smallest(present.keys());
    for (const [seq, payload] of appended) {
      // Records of reclaimed segments are gone: every message in them was done.
      if (present.has(seq)) check(present.get(seq) === payload, round, `append ${seq} changed`);
      else check(acked.has(seq) || seq < oldest, round, `acknowledged append ${seq} lost`);
    }
    const delivered: number[] = [];
    for (let batch = await spool.takeMany(256); batch.length > 0; ) {
      delivered.push(...batch.map((lease) => lease.seq));
      batch = await spool.takeMany(256);
    }
    const again = delivered.filter((seq) => acked.has(seq));
    check(again.length === 0, round, `acknowledged messages delivered again: ${again}`);
    const deliveredSet = new Set(delivered);
    const missing = [...appended.keys()].filter(
      (seq) => !acked.has(seq) && !deliveredSet.has(seq) && seq >= oldest,
    );
    check(missing.length <= 4 * (round + 1), round, `unacknowledged messages missing: ${missing}`);
    // The verifier acks what it took, so the spool drains and its segments are reclaimed (the
    // next round's worker starts from a small spool); its acks are promises too: a message
    // acked here and delivered again in a later round fails that round.
    for (let at = 0; at < delivered.length; at += 256) {
      const chunk = delivered.slice(at, at + 256);
      await Promise.all(chunk.map((seq) => spool.ack(seq)));
      for (const seq of chunk) acked.add(seq);
    }
    await spool.close();
    progress(round + 1);
  }
  return {
    rounds,
    acknowledgedAppends: appended.size,
    acknowledgedAcks: acked.size,
    workerAcks,
    lost: 0,
  };
}

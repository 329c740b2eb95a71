import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSink, type Sink } from "../src/Sink.js";
import { basicAuthorization } from "../src/Submission.js";
import { startAttackers } from "./AttackerProcess.js";
import { memoryBytes, startGatewayProcess } from "./GatewayProcess.js";
import { LEGITIMATE_VASP, messageStatus, type Outcome, submit } from "./LegitimateVasp.js";

/** The siege of issue 18: how long it lasts, and what attacks the gateway meanwhile. */
const SIEGE_MS = 20_000;
const IDLE_CONNECTIONS = 1_000;
const SLOWLORIS_CONNECTIONS = 50;
const SLOW_BODIES = 40;
/** "A descriptor limit of about 1,000": the common default soft limit. */
const DESCRIPTOR_LIMIT = 1_024;
/** The legitimate VASP's submissions, spread evenly over the siege (one every 200 ms). */
const LEGITIMATE_SUBMISSIONS = 100;
/**
 * Of the VASP's submissions, at least this many must be accepted, not told to retry: the slow
 * bodies' VASP may hold at most its share of the body bytes in flight (`vaspBodyBytesMax`, half),
 * so the other half is always there for the VASP's 1 KiB bodies, one every 200 ms. A busy
 * machine slows the answers, not the shares; half leaves room for that and still fails a
 * gateway that starves the VASP, where "more than none accepted" would pass with 99 told to
 * retry. (Measured here: 100 of 100 accepted.)
 */
const ACCEPTED_COUNT_MIN = LEGITIMATE_SUBMISSIONS / 2;
/**
 * The bound on the gateway's peak resident memory (VmHWM). Measured here, the gateway process
 * peaks at about 200 MB serving the legitimate VASP alone (175 MB idle: tsx compiles its
 * TypeScript in the process). The rest is for the siege: a bound of 64 MiB on body bytes in
 * flight (each body read into one buffer of its reserved length), then parsed and encoded
 * into its record, under 128 MiB at most, and a thousand connections' buffers some tens of
 * MB more. Holding the 40 slow bodies whole, as the gateway before issue 18 did, is 240 MiB
 * on top of the baseline (measured: 486 MB; the issue's siege saw 674-971 MB).
 */
const RSS_PEAK_BYTES_MAX = 384 * 1024 * 1024;
/** A bound on waiting for the accepted messages to be delivered once the siege ends. */
const DELIVERY_DEADLINE_MS = 60_000;
const POLL_MS = 250;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const megabytes = (bytes: number) => Math.round(bytes / 1024 / 1024);

/** The legitimate VASP's submissions, started at an even pace over the siege. */
async function legitimateTraffic(url: string): Promise<Outcome[]> {
  const pending: Promise<Outcome>[] = [];
  const started = performance.now();
  for (let n = 0; n < LEGITIMATE_SUBMISSIONS; n++) {
    // The pace is the scenario (a VASP submitting steadily), not a wait for a condition.
    await sleep(started + (n * SIEGE_MS) / LEGITIMATE_SUBMISSIONS - performance.now());
    pending.push(submit(url, n));
  }
  await sleep(started + SIEGE_MS - performance.now());
  return Promise.all(pending);
}

/** A gateway under the siege's descriptor limit, a sink, and the attackers loaded. */
async function siegeSetting() {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-siege-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const sink = await openSink();
  cleanups.push(() => sink.close());
  const gateway = await startGatewayProcess({
    dir,
    recipientUrl: sink.deliverUrl,
    reportUrl: sink.reportUrl,
    descriptorLimit: DESCRIPTOR_LIMIT,
    options: {
      // The slow bodies come from a VASP of their own, with valid credentials.
      vasps: [
        { ...LEGITIMATE_VASP, reportUrl: sink.reportUrl },
        { vaspId: "mallory", password: "slow", reportUrl: null },
      ],
      // Retries at least every second, so a message retried during the siege is delivered
      // soon after it ends.
      delivery: { backoffBaseMs: 200, backoffMaxMs: 1_000, breakerCoolDownMs: 2_000 },
    },
  });
  cleanups.push(async () => {
    gateway.child.kill("SIGKILL");
    await gateway.exited;
  });
  const attackers = startAttackers({
    host: "127.0.0.1",
    port: Number(new URL(gateway.url).port),
    idle: IDLE_CONNECTIONS,
    slowloris: SLOWLORIS_CONNECTIONS,
    slowBodies: SLOW_BODIES,
    slowBodyAuthorization: basicAuthorization("mallory", "slow"),
  });
  cleanups.push(() => attackers.child.kill("SIGKILL"));
  await attackers.loaded;
  return { sink, gateway, attackers };
}

/**
 * The status of each accepted message once every one is delivered or Failed, or the deadline
 * passed: the recipient's count is asked first, the gateway only about the others.
 */
async function finalStates(url: string, sink: Sink, acceptedIds: readonly string[]) {
  const states = new Map<string, string>();
  const deadline = Date.now() + DELIVERY_DEADLINE_MS;
  for (;;) {
    const undelivered = acceptedIds.filter((id) => !sink.received.has(id));
    for (const id of undelivered) states.set(id, await messageStatus(url, id));
    const settled = undelivered.every((id) => states.get(id) === "Failed");
    if (settled || Date.now() > deadline) break;
    await sleep(POLL_MS);
  }
  for (const id of acceptedIds) states.set(id, await messageStatus(url, id));
  return states;
}

/** Why submissions that were neither accepted nor told to retry ended, with their counts. */
function lossReasons(lost: readonly Outcome[]): Record<string, number> {
  const reasons: Record<string, number> = {};
  for (const outcome of lost) {
    const reason =
      outcome.kind === "dropped"
        ? outcome.reason
        : outcome.kind === "refused"
          ? `HTTP ${outcome.status} ${outcome.statusCode}`
          : outcome.kind;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  }
  return reasons;
}

describe("the siege (issue 18)", () => {
  it("under 1,000 idle, 50 slowloris and 40 slow-body connections, a VASP's submissions are accepted or told to retry, every accepted one is delivered, none Failed, and memory stays bounded", async () => {
    const { sink, gateway, attackers } = await siegeSetting();
    await attackers.attack();
    const outcomes = await legitimateTraffic(gateway.url);
    const attack = await attackers.stop();
    const acceptedIds = outcomes.flatMap((o) => (o.kind === "accepted" ? [o.messageId] : []));
    const states = await finalStates(gateway.url, sink, acceptedIds);
    const peakRssBytes = memoryBytes(gateway.pid, "VmHWM");

    const toldToRetry = outcomes.filter((o) => o.kind === "retryLater").length;
    const lost = outcomes.filter((o) => o.kind === "dropped" || o.kind === "refused");
    const delivered = acceptedIds.filter((id) => sink.received.has(id)).length;
    const failed = [...states.values()].filter((state) => state === "Failed").length;
    const stateCounts: Record<string, number> = {};
    for (const state of states.values()) stateCounts[state] = (stateCounts[state] ?? 0) + 1;
    console.log(
      `siege: ${LEGITIMATE_SUBMISSIONS} submissions: accepted ${acceptedIds.length}, told to ` +
        `retry ${toldToRetry}, dropped or refused ${lost.length} ` +
        `${JSON.stringify(lossReasons(lost))}; delivered ${delivered}, failed ${failed} ` +
        `(states after: ${JSON.stringify(stateCounts)}); ` +
        `peak RSS ${megabytes(peakRssBytes)} MB (bound ${megabytes(RSS_PEAK_BYTES_MAX)} MB); ` +
        `attackers: ${JSON.stringify(attack)}`,
    );
    expect(lost).toEqual([]);
    // A gateway that tells everyone to come back later has been taken down all the same.
    expect(acceptedIds.length).toBeGreaterThanOrEqual(ACCEPTED_COUNT_MIN);
    expect(delivered).toBe(acceptedIds.length);
    expect(failed).toBe(0);
    expect(peakRssBytes).toBeLessThan(RSS_PEAK_BYTES_MAX);
  }, 180_000);
});

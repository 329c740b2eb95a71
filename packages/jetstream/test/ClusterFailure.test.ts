/**
 * A spool on a three-server cluster, a stream of three replicas, under load through Spool's
 * API while servers die: the stream's leader is SIGKILLed, then (with the new leader in
 * charge) a follower, leaving one server of three, then both come back. Afterwards every
 * acknowledged append was delivered, under its seq, byte for byte, and stored once; no
 * message was delivered again after its ack was confirmed; writers and consumers resumed after
 * each election. A paused (SIGSTOP) server, a minority of one, acknowledges no append.
 *
 * The test waits for progress, never for time: each phase ends when the counters moved.
 */
import { randomBytes } from "node:crypto";
import { FlushFailed } from "@spool/core";
import { type NatsCluster, startNatsCluster } from "@spool/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type JetStreamSpool, openJetStreamSpool } from "../src/index.js";

const WRITERS = 16;
const CONSUMER_BATCH = 16;
/** The bound on every wait for progress: past a few elections (4-8 s each on 2.9) and restarts. */
const PROGRESS_MS_MAX = 120_000;
/**
 * The bound on the whole failover test: its eight phases (two elections, two restarts, the
 * drain) each wait up to PROGRESS_MS_MAX, so one bound for all of them (vitest's 120 s here)
 * failed a slow but progressing run on a busy machine (seen with a bench run beside it).
 */
const FAILOVER_TEST_MS_MAX = 600_000;

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3 });
});
afterAll(async () => {
  await cluster?.stop();
});

/** Polls `ready` until it holds; fails naming `what` (and `details()`) past the bound. */
async function until(
  what: string,
  ready: () => boolean | Promise<boolean>,
  details: () => string | Promise<string> = () => "",
): Promise<void> {
  const deadline = performance.now() + PROGRESS_MS_MAX;
  while (!(await ready())) {
    if (performance.now() > deadline)
      throw new Error(`timed out waiting for ${what} ${await details()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the load saw: appends acknowledged, deliveries, acks confirmed, and when. */
class Ledger {
  /** Payload (hex) → the seq its append was acknowledged with. */
  readonly appended = new Map<string, number>();
  /** Seq → every payload delivered under it (hex). */
  readonly delivered = new Map<number, string[]>();
  /** Seq → when its ack was confirmed. */
  readonly acked = new Map<number, number>();
  /**
   * Seqs whose ack failed (no answer in time, the cluster away): not known recorded, so either
   * delivered again (and acked then) or recorded after all, and never delivered again.
   */
  readonly ackFailed = new Set<number>();
  /** Deliveries of a seq after its ack was confirmed. */
  ackedDeliveredAgain = 0;
  appendFailures = 0;
  consumerErrors = 0;
  lastAppendAtMs = 0;
  lastAckAtMs = 0;
}

function startWriters(spool: JetStreamSpool, ledger: Ledger, stop: () => boolean) {
  return Array.from({ length: WRITERS }, async (_, writer) => {
    const handle = spool.writer(`load-${writer}`);
    for (let k = 0; !stop(); k++) {
      const payload = Buffer.concat([Buffer.from(`${writer}:${k}:`), randomBytes(48)]);
      try {
        const { seq } = await handle.append(payload);
        ledger.appended.set(payload.toString("hex"), seq);
        ledger.lastAppendAtMs = performance.now();
      } catch {
        // Not acknowledged (the retry window ran out): it may or may not be stored.
        ledger.appendFailures += 1;
        return;
      }
    }
  });
}

async function runConsumer(spool: JetStreamSpool, ledger: Ledger, stop: () => boolean) {
  while (!stop()) {
    try {
      const leases = await spool.takeMany(CONSUMER_BATCH);
      for (const lease of leases) {
        if (ledger.acked.has(lease.seq)) ledger.ackedDeliveredAgain += 1;
        const payloads = ledger.delivered.get(lease.seq) ?? [];
        payloads.push(Buffer.from(lease.payload).toString("hex"));
        ledger.delivered.set(lease.seq, payloads);
      }
      for (const lease of leases) {
        await spool.ack(lease.seq).catch((error: unknown) => {
          ledger.ackFailed.add(lease.seq);
          throw error;
        });
        ledger.acked.set(lease.seq, performance.now());
        ledger.lastAckAtMs = performance.now();
      }
    } catch {
      // The cluster is away (no quorum, an election): the consumer tries again.
      ledger.consumerErrors += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe("a spool on a three-server cluster, stream of three replicas", () => {
  it(
    "loses, duplicates and redelivers nothing acknowledged while servers die",
    async () => {
      const stream = "failover";
      const options = { servers: cluster.urls(), stream, replicas: 3, config: { leaseMs: 5_000 } };
      const writing = await openJetStreamSpool({ ...options, name: "writers" });
      const consuming = await openJetStreamSpool({ ...options, name: "consumers" });
      const ledger = new Ledger();
      let stopWriting = false;
      let stopConsuming = false;
      const writers = startWriters(writing, ledger, () => stopWriting);
      const consumer = runConsumer(consuming, ledger, () => stopConsuming);
      const progress = async (what: string, appends: number, acks: number) => {
        const [a, k] = [ledger.appended.size + appends, ledger.acked.size + acks];
        await until(what, () => ledger.appended.size >= a && ledger.acked.size >= k);
      };
      const resumeAfter = async (what: string) => {
        const since = performance.now();
        await progress(what, 200, 200);
        return {
          appendsMs: Math.round(ledger.lastAppendAtMs - since),
          acksMs: Math.round(ledger.lastAckAtMs - since),
        };
      };
      await progress("the load to start", 500, 300);

      const leader = await cluster.waitForStreamLeader(stream);
      await cluster.kill(leader);
      const afterLeader = await resumeAfter("appends and acks after the leader was killed");
      const next = await cluster.waitForStreamLeader(stream, { not: leader });
      const follower = cluster.servers.find((s) => s.name !== leader && s.name !== next)!.name;
      await cluster.kill(follower);
      const appendedAtFollowerKilled = ledger.appended.size;
      // One server of three: give appends in flight time to fail over, and see none acknowledged.
      await until("the writers to stall on the lost quorum", async () => {
        const before = ledger.appended.size;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return ledger.appended.size === before;
      });
      const acknowledgedWithOneServer = ledger.appended.size - appendedAtFollowerKilled;
      const stalledAt = ledger.appended.size;
      await until("an append still unacknowledged", async () => ledger.appended.size === stalledAt);
      await cluster.restart(leader);
      await cluster.restart(follower);
      const afterRestart = await resumeAfter("appends and acks after both came back");
      stopWriting = true;
      await Promise.all(writers);

      // Drain: every acknowledged append is delivered and answered, and the stream holds none.
      const wanted = [...ledger.appended.values()];
      const answered = (seq: number) => ledger.acked.has(seq) || ledger.ackFailed.has(seq);
      let depth = -1;
      await until(
        "every acknowledged append to be delivered and answered, and the stream to be empty",
        async () => {
          if (!wanted.every(answered)) return false;
          depth = await consuming.depth().catch(() => -1);
          return depth === 0;
        },
        async () => {
          const unanswered = wanted.filter((seq) => !answered(seq));
          const delivered = unanswered.filter((seq) => ledger.delivered.has(seq)).length;
          const states = await Promise.all(
            unanswered.slice(0, 8).map((seq) => consuming.messageState(seq).catch(String)),
          );
          const { leases, acks, deadLettered } = consuming.stats();
          return JSON.stringify({
            unanswered: unanswered.length,
            delivered,
            depth,
            firstUnanswered: unanswered.slice(0, 8),
            theirStates: states,
            consumer: { leases, acks, deadLettered, errors: ledger.consumerErrors },
            acksFailed: ledger.ackFailed.size,
          });
        },
      );
      stopConsuming = true;
      await consumer;
      // An ack that failed and whose message never came back was recorded after all: done.
      const ackedUnconfirmed = [...ledger.ackFailed].filter((seq) => !ledger.acked.has(seq));
      const statesOfUnconfirmed = await Promise.all(
        ackedUnconfirmed.map((seq) => consuming.messageState(seq)),
      );
      expect(statesOfUnconfirmed.filter((state) => state !== "done")).toEqual([]);

      const duplicatesBySeq = [...ledger.delivered.entries()].filter(
        ([, payloads]) => new Set(payloads).size > 1,
      ).length;
      const seqsByPayload = new Map<string, Set<number>>();
      for (const [seq, payloads] of ledger.delivered) {
        for (const payload of payloads) {
          seqsByPayload.set(payload, (seqsByPayload.get(payload) ?? new Set()).add(seq));
        }
      }
      const storedTwice = [...seqsByPayload.values()].filter((seqs) => seqs.size > 1).length;
      let lost = 0;
      let changed = 0;
      for (const [payload, seq] of ledger.appended) {
        const payloads = ledger.delivered.get(seq);
        if (payloads === undefined) lost += 1;
        else if (!payloads.every((delivered) => delivered === payload)) changed += 1;
      }
      const figures = {
        appendsAcknowledged: ledger.appended.size,
        appendsAcknowledgedAsTheFollowerDied: acknowledgedWithOneServer,
        appendFailures: ledger.appendFailures,
        lost,
        changed,
        storedTwice,
        duplicatesBySeq,
        ackedDeliveredAgain: ledger.ackedDeliveredAgain,
        acksConfirmed: ledger.acked.size,
        acksFailedYetRecorded: ackedUnconfirmed.length,
        resumeAfterLeaderKilled: afterLeader,
        resumeAfterRestart: afterRestart,
        writerStats: writing.stats(),
        consumerStats: consuming.stats(),
      };
      console.log(`cluster failover figures: ${JSON.stringify(figures)}`);
      expect({ lost, changed, storedTwice, duplicatesBySeq }).toEqual({
        lost: 0,
        changed: 0,
        storedTwice: 0,
        duplicatesBySeq: 0,
      });
      expect(ledger.ackedDeliveredAgain).toBe(0);
      expect(ledger.appendFailures).toBe(0);
      await Promise.all([writing.close(), consuming.close()]);
    },
    FAILOVER_TEST_MS_MAX,
  );

  it("hands out no acked message again when the consumer's leader dies right after acks", async () => {
    const stream = "acked";
    const options = { servers: cluster.urls(), stream, replicas: 3, config: { leaseMs: 5_000 } };
    const writing = await openJetStreamSpool({ ...options, name: "writers" });
    const consuming = await openJetStreamSpool({ ...options, name: "consumers" });
    const ledger = new Ledger();
    let stop = false;
    const writers = startWriters(writing, ledger, () => stop);
    const consumer = runConsumer(consuming, ledger, () => stop);
    for (let round = 0; round < 3; round++) {
      const acks = ledger.acked.size;
      await until("acks before the kill", () => ledger.acked.size >= acks + 300);
      const leader = await cluster.waitForConsumerLeader(stream, "spool");
      await cluster.kill(leader);
      const after = ledger.acked.size;
      await until(
        "acks after the consumer's leader was killed",
        () => ledger.acked.size >= after + 300,
      );
      await cluster.restart(leader);
    }
    stop = true;
    await Promise.all([...writers, consumer]);
    const { ackedDeliveredAgain, acks } = consuming.stats();
    console.log(
      `consumer leader kills: ${JSON.stringify({ acks, suppressed: ackedDeliveredAgain, handedOutAgain: ledger.ackedDeliveredAgain })}`,
    );
    expect(ledger.ackedDeliveredAgain).toBe(0);
    await Promise.all([writing.close(), consuming.close()]);
  });

  it("acknowledges no append through a paused server, a minority of one", async () => {
    const stream = "minority";
    const majority = await openJetStreamSpool({ servers: cluster.urls(), stream, replicas: 3 });
    await majority.writer().append("before");
    const [paused, ...others] = cluster.servers;
    const alone = await openJetStreamSpool({
      servers: paused!.url,
      stream,
      replicas: 3,
      publishTimeoutMs: 500,
      retryForMs: 3_000,
    });
    const others_ = others.map((server) => server.url).join(",");
    const reachable = await openJetStreamSpool({ servers: others_, stream, replicas: 3 });
    cluster.pause(paused!.name);
    try {
      const refused = alone.writer().append("through the paused server");
      await expect(refused).rejects.toBeInstanceOf(FlushFailed);
      const { seq } = await reachable.writer().append("through the majority");
      expect(seq).toBeGreaterThan(1);
    } finally {
      cluster.resume(paused!.name);
    }
    await Promise.all([majority.close(), alone.close(), reachable.close()]);
  });
});

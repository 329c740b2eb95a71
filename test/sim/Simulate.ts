/**
 * The power-cut simulator: a seeded workload of appends, takes, acks and nacks on the memory
 * adapter under a simulated clock (leases expire and retries come due as it advances), a power
 * cut at a seeded moment with operations in flight (unflushed pages kept, dropped or torn),
 * reopen, and the invariants: every acknowledged append present and byte-identical, nothing
 * returned that was never appended, records dense and in order, no acknowledged message
 * delivered again. Used by `npm test` (a few hundred seeds) and `npm run simulate`.
 */

import { openSpool } from "@spool/actors";
import { MemoryDisk, memoryAdapter, seededRandom } from "@spool/adapters";

/** What one seed did, for the summary. */
export interface SimulationResult {
  readonly seed: number;
  readonly steps: number;
  readonly ackedAppends: number;
  readonly ackedAcks: number;
  readonly recordsAfterCut: number;
  /** Batches written beside another still flushing, and batches split in two (pipelining). */
  readonly writtenAhead: number;
  readonly splits: number;
  /** Segments made from reclaimed ones instead of zero-filled (issue 20). */
  readonly segmentsRecycled: number;
}

/** A broken invariant, with the seed that reproduces it. */
export class InvariantBroken extends Error {
  constructor(
    readonly seed: number,
    what: string,
  ) {
    super(`seed ${seed}: ${what}; reproduce: npm run simulate -- --seed ${seed}`);
  }
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs one seed; throws InvariantBroken when an invariant does not hold. */
export async function simulate(seed: number): Promise<SimulationResult> {
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const check = (holds: boolean, what: string): void => {
    if (!holds) throw new InvariantBroken(seed, what);
  };
  const disk = new MemoryDisk();
  // The simulated clock: it moves only when a step advances it.
  let nowMs = 1_000_000;
  const clock = () => nowMs;
  const options = {
    dir: "sim",
    // Small segments in half the seeds: consumers that keep up reclaim them, and later segments
    // are made from the reclaimed ones (recycled, their stale records still there).
    segmentByteSize: [16384, 4096][pick(2)] ?? 16384,
    indexSegmentEntries: 64,
    maxAttempts: 100,
    leaseMs: 50,
    // One batch on the disk at a time, or two (pipelining), with small batches split or not.
    pipelineSplitByteSize: [null, 300, 128 * 1024][pick(3)] ?? null,
    clock,
  };
  let spool = await openSpool({ ...options, adapter: memoryAdapter(disk) });
  let writers = [spool.writer(), spool.writer(), spool.writer()];
  const attempted = new Map<string, true>();
  const appended = new Map<number, string>();
  const acked = new Set<number>();
  const leased: number[] = [];
  // Longer runs with small segments, so that several are reclaimed and recycled before the cut.
  const steps = options.segmentByteSize === 4096 ? 20 + pick(80) : 5 + pick(25);
  const cutAt = pick(steps + 1);
  let inFlight: Promise<unknown>[] = [];
  let writtenAhead = 0;
  let splits = 0;
  let recycled = 0;
  const countPipelining = () => {
    writtenAhead += spool.stats().writtenAhead;
    splits += spool.stats().splits;
    recycled += spool.stats().segmentsRecycled;
  };
  for (let step = 0; step < steps; step++) {
    if (step === cutAt) break;
    nowMs += pick(30);
    const kind = pick(6);
    if (kind === 5) {
      // A consumer that keeps up: everything ready taken and acked.
      for (const lease of await spool.takeMany(64)) {
        inFlight.push(
          spool.ack(lease.seq).then(
            () => acked.add(lease.seq),
            () => undefined,
          ),
        );
      }
    } else if (kind === 4) {
      // A clean close and reopen in the middle of the work: leases held come back as queued.
      await Promise.allSettled(inFlight);
      inFlight = [];
      await spool.close();
      countPipelining();
      spool = await openSpool({ ...options, adapter: memoryAdapter(disk) });
      writers = [spool.writer(), spool.writer(), spool.writer()];
      leased.length = 0;
    } else if (kind <= 1) {
      const count = 1 + pick(8);
      for (let i = 0; i < count; i++) {
        const payload = `s${seed}-${step}-${i}-`.padEnd(20 + pick(300), "p");
        attempted.set(payload, true);
        const writer = writers[pick(writers.length)]!;
        inFlight.push(
          writer.append(payload).then(({ seq }) => {
            appended.set(seq, payload);
          }),
        );
      }
    } else if (kind === 2) {
      for (const lease of await spool.takeMany(1 + pick(4))) leased.push(lease.seq);
    } else if (leased.length > 0) {
      const [seq] = leased.splice(pick(leased.length), 1);
      // An ack of a lease that expired and was taken again meanwhile is still an ack; one of a
      // message acked already is refused (NotLeased), which the workload ignores.
      if (random() < 0.7) {
        inFlight.push(
          spool.ack(seq!).then(
            () => acked.add(seq!),
            () => undefined,
          ),
        );
      } else inFlight.push(spool.nack(seq!, { retryAfterMs: pick(40) }).catch(() => undefined));
    }
    // Sometimes let everything in flight finish; sometimes keep it going into the next step.
    if (random() < 0.5) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  // The power cut: whatever is in flight now may or may not have reached the disk.
  // A seeded number of microtask turns: batches are caught staged, written or flushing.
  const turns = pick(60);
  for (let turn = 0; turn < turns; turn++) await Promise.resolve();
  const survivor = disk.powerCut(seed);
  // Only what was acknowledged before the cut is promised; later acknowledgements are not.
  const appendedBeforeCut = new Map(appended);
  const ackedBeforeCut = new Set(acked);
  await Promise.allSettled(inFlight);
  await spool.close();
  countPipelining();

  nowMs += 1_000;
  const reopened = await openSpool({ ...options, adapter: memoryAdapter(survivor) });
  const present = new Map<number, string>();
  let previous: number | undefined;
  for await (const record of reopened.records()) {
    // Segments reclaimed before the cut held only messages acked (their acks durable then,
    // though maybe answered after the cut): the log may start past seq 1.
    if (previous === undefined) {
      previous = record.seq - 1;
      const gone = [...appendedBeforeCut.keys()].filter(
        (seq) => seq <= previous! && !acked.has(seq),
      );
      check(gone.length === 0, `records ${gone} reclaimed though never acked`);
    }
    // Order kept: dense, ascending.
    check(record.seq === previous + 1, `record ${record.seq} out of order after ${previous}`);
    previous = record.seq;
    const payload = text(record.payload);
    // Nothing returned that was never appended.
    check(attempted.has(payload), `record ${record.seq} was never appended`);
    present.set(record.seq, payload);
  }
  // Every acknowledged append present and byte-identical, but those reclaimed once acked.
  const firstKept = previous === undefined ? 1 : previous + 1 - present.size;
  for (const [seq, payload] of appendedBeforeCut) {
    if (seq < firstKept) continue;
    check(present.get(seq) === payload, `acknowledged append ${seq} lost or changed`);
  }
  // No acknowledged message delivered again.
  const delivered: number[] = [];
  for (let batch = await reopened.takeMany(64); batch.length > 0; ) {
    delivered.push(...batch.map((lease) => lease.seq));
    batch = await reopened.takeMany(64);
  }
  const redelivered = delivered.filter((seq) => ackedBeforeCut.has(seq));
  check(redelivered.length === 0, `acknowledged messages delivered again: ${redelivered}`);
  await reopened.close();
  return {
    seed,
    steps: Math.min(steps, cutAt),
    ackedAppends: appendedBeforeCut.size,
    ackedAcks: ackedBeforeCut.size,
    recordsAfterCut: present.size,
    writtenAhead,
    splits,
    segmentsRecycled: recycled,
  };
}

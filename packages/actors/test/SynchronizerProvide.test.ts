import type { BatchId } from "@spool/core";
import { describe, expect, it } from "vitest";
import { createMachine, fromCallback, type InspectionEvent } from "xstate";
import {
  type FlusherEvent,
  openSpool,
  type SynchronizerServices,
  synchronizerMachine,
} from "../src/index.js";
import { temporaryDirectory } from "./helpers.js";

const payload = (index: number) => `record ${index}`;

/**
 * A `flusher` of the user's own: it writes and flushes each batch through the services as the
 * default one does, and counts what it flushed.
 */
function countingFlusher() {
  const batches: { readonly batchId: BatchId; readonly records: number }[] = [];
  const flusher = fromCallback<FlusherEvent, { readonly services: SynchronizerServices }>(
    ({ input, sendBack, receive }) => {
      receive((event) => {
        // It reports every submission, asked (`reportSubmitted`) or not: the machine takes both.
        if (event.type !== "flush") return;
        const { job } = event;
        const batchId = job.batch.id;
        batches.push({ batchId, records: job.batch.writes.length });
        const submitted = (): void => sendBack({ type: "disk.submitted", batchId });
        input.services.write(job, submitted).then(
          (outcome) => sendBack({ type: "disk.written", batchId, outcome }),
          // No I/O error is expected of a temporary directory: any error stops the spool.
          (error: unknown) => input.services.fault("the test's flusher", error),
        );
      });
    },
  );
  return { batches, flusher };
}

/** Appends `count` records: half at once (one batch or a few), then the rest one by one. */
async function appendRecords(spool: Awaited<ReturnType<typeof openSpool>>, count: number) {
  const writer = spool.writer("provide");
  const half = Math.floor(count / 2);
  await Promise.all(Array.from({ length: half }, (_, index) => writer.append(payload(index))));
  for (let index = half; index < count; index += 1) await writer.append(payload(index));
}

describe("openSpool's synchronizer extensions", () => {
  it("runs a synchronizerMachine given a flusher of its own, which sees every batch, all durable", async () => {
    const dir = temporaryDirectory();
    const { batches, flusher } = countingFlusher();
    const machine = synchronizerMachine.provide({ actors: { flusher } });
    const spool = await openSpool({ dir, synchronizerMachine: machine });
    const count = 40;
    await appendRecords(spool, count);
    const flushes = spool.stats().flushes;
    await spool.close();
    // Every batch the synchronizer flushed went through the provided actor, every record once.
    expect(batches.length).toBe(flushes);
    expect(batches.length).toBeGreaterThan(1);
    expect(new Set(batches.map(({ batchId }) => batchId)).size).toBe(batches.length);
    expect(batches.reduce((sum, { records }) => sum + records, 0)).toBe(count);
    const reopened = await openSpool({ dir });
    const read: string[] = [];
    for await (const record of reopened.records())
      read.push(new TextDecoder().decode(record.payload));
    await reopened.close();
    expect(read).toEqual(Array.from({ length: count }, (_, index) => payload(index)));
  });

  it("tells an inspect option the synchronizer's snapshots as appends go through it", async () => {
    const events: InspectionEvent[] = [];
    const spool = await openSpool({
      dir: temporaryDirectory(),
      inspect: (event) => events.push(event),
    });
    await appendRecords(spool, 4);
    await spool.close();
    const states = new Set<unknown>();
    for (const event of events) {
      if (event.type !== "@xstate.snapshot" || event.actorRef.sessionId !== event.rootId) continue;
      states.add((event.snapshot as { value?: unknown }).value);
    }
    for (const state of ["receiving", "mapping", "writing", "confirming", "closed"]) {
      expect(states).toContain(state);
    }
    // The machine's own events are inspected too, the appends' requests among them.
    expect(
      events.some(
        (event) => event.type === "@xstate.event" && event.event.type === "sync.requests",
      ),
    ).toBe(true);
  });

  it("refuses a synchronizerMachine not made from synchronizerMachine, and an inspect that cannot hear", async () => {
    const dir = temporaryDirectory();
    const other = createMachine({ id: "synchronizer" }) as unknown as typeof synchronizerMachine;
    await expect(openSpool({ dir, synchronizerMachine: other })).rejects.toMatchObject({
      _tag: "ConfigInvalid",
      field: "synchronizerMachine",
    });
    const deaf = 42 as unknown as () => void;
    await expect(openSpool({ dir, inspect: deaf })).rejects.toMatchObject({
      _tag: "ConfigInvalid",
      field: "inspect",
    });
  });
});

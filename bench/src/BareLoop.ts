/**
 * The bare group-commit loop: the same adapter and record encoding as Spool, with no actors,
 * no lock, no policy. Appends gathered per microtask are written and flushed as one batch
 * while the next batch gathers. Its throughput is the ceiling Spool's framework is priced
 * against.
 */
import {
  type AdapterFactory,
  byteOffset,
  byteSize,
  RecordEncoder,
  recordByteSize,
  segmentNumber,
  seq,
  writerId,
} from "@spool/core";

interface Waiting {
  readonly payload: Uint8Array;
  readonly resolve: (seq: number) => void;
}

export async function openBareLoop(factory: AdapterFactory, dir: string, segmentByteSize: number) {
  const adapter = await factory({ dir, segmentByteSize, pageByteSize: 4096 });
  const segment = segmentNumber(1);
  await adapter.map(segment);
  let pending: Waiting[] = [];
  let flushing = false;
  let offset = 0;
  let nextSeq = 1;
  let flushes = 0;
  const run = async (): Promise<void> => {
    flushing = true;
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      let size = 0;
      for (const item of batch) size += recordByteSize(item.payload.byteLength);
      if (offset + size > segmentByteSize) throw new Error("bare loop: segment full");
      const region = { segment, offset: byteOffset(offset), byteSize: byteSize(size) };
      const encoder = new RecordEncoder(adapter.stage(region), batch.length);
      let at = 0;
      const first = nextSeq;
      const appendedAtMs = Date.now();
      for (const item of batch) {
        at += encoder.encode(at, seq(nextSeq++), writerId(1), appendedAtMs, item.payload);
      }
      encoder.seal();
      await adapter.write(region);
      await adapter.flush(region, "sync");
      offset += size;
      flushes += 1;
      for (const [index, item] of batch.entries()) item.resolve(first + index);
    }
    flushing = false;
  };
  return {
    append(payload: Uint8Array): Promise<number> {
      return new Promise((resolve) => {
        pending.push({ payload, resolve });
        if (!flushing) {
          flushing = true;
          queueMicrotask(() => void run());
        }
      });
    },
    flushes: () => flushes,
    close: () => adapter.close(),
  };
}

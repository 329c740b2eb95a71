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
  type SegmentNumber,
  segmentNumber,
  segmentStamp,
  seq,
  writerId,
} from "@spool/core";

interface Waiting {
  readonly payload: Uint8Array;
  readonly resolve: (seq: number) => void;
  readonly reject: (error: unknown) => void;
}

export async function openBareLoop(factory: AdapterFactory, dir: string, segmentByteSize: number) {
  const adapter = await factory({ dir, segmentByteSize, pageByteSize: 4096 });
  let segment = segmentNumber(1);
  await adapter.map(segment);
  let pending: Waiting[] = [];
  let flushing = false;
  let offset = 0;
  let nextSeq = 1;
  let flushes = 0;
  let preparedAhead: SegmentNumber = segment;
  // The bench sizes the segment for the whole case, so a roll is the exception; when the disk
  // outruns that bound the loop goes on in the next segment as Spool does (a fast phase of
  // this disk once filled a 2 GiB segment at 256 writers and ended the whole run). Like Spool,
  // it pre-zeroes the next segment once three quarters of this one are written.
  const placeBatch = async (size: number) => {
    if (offset + size > segmentByteSize) {
      if (size > segmentByteSize) throw new Error(`bare loop: a ${size}-byte batch never fits`);
      segment = segmentNumber(segment + 1);
      offset = 0;
      await adapter.map(segment);
    }
    if (offset + size >= (segmentByteSize * 3) / 4 && preparedAhead === segment) {
      preparedAhead = segmentNumber(segment + 1);
      // A failed preparation is retried by the roll's map, which reports it.
      adapter.prepareSegment(preparedAhead).catch(() => undefined);
    }
    return { segment, offset: byteOffset(offset), byteSize: byteSize(size) };
  };
  const writeBatch = async (batch: readonly Waiting[]) => {
    let size = 0;
    for (const item of batch) size += recordByteSize(item.payload.byteLength);
    const region = await placeBatch(size);
    const encoder = new RecordEncoder(
      adapter.stage(region),
      batch.length,
      segmentStamp(region.segment),
    );
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
  };
  const run = async (): Promise<void> => {
    flushing = true;
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        await writeBatch(batch);
      } catch (error) {
        // Its appends fail with the error (the case reports it) instead of waiting forever.
        for (const item of batch) item.reject(error);
      }
    }
    flushing = false;
  };
  return {
    append(payload: Uint8Array): Promise<number> {
      return new Promise((resolve, reject) => {
        pending.push({ payload, resolve, reject });
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

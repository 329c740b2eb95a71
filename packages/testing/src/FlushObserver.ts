/**
 * Watches an adapter from the synchronizer's side of the port: the bytes handed to each `write`
 * and, when a synchronous `flush` covering them resolves, whether a power cut at that instant
 * would keep them (asked of a {@link DurableBytes}). A flush that resolves before its bytes
 * are durable, a flush that does nothing, and a write that never reaches the file all show up
 * as bytes written that stable storage does not hold when the flush says it does.
 */
import { delegatingAdapter } from "@spool/adapters";
import type { AdapterFactory, FlushAdapter, Region, SegmentFileKind } from "@spool/core";

/**
 * What a power cut right now would keep of a region of one of the spool's files: undefined when
 * the store knows nothing durable of that file.
 *
 * @example
 * const durable: DurableBytes = (kind, region) => disk.durable.get(region.segment)?.slice(...);
 */
export type DurableBytes = (fileKind: SegmentFileKind, region: Region) => Uint8Array | undefined;

/** Bytes handed to `write`, not yet covered by a flush. */
interface Written {
  readonly region: Region;
  readonly bytes: Uint8Array;
}

const overlaps = (a: Region, b: Region): boolean =>
  a.segment === b.segment && a.offset < b.offset + b.byteSize && b.offset < a.offset + a.byteSize;

const inside = (inner: Region, outer: Region): boolean =>
  inner.segment === outer.segment &&
  inner.offset >= outer.offset &&
  inner.offset + inner.byteSize <= outer.offset + outer.byteSize;

const hex = (byte: number | undefined): string =>
  byte === undefined ? "absent" : `0x${byte.toString(16).padStart(2, "0")}`;

/** Why `kept` is not `written`, or undefined when it is. */
function difference(written: Uint8Array, kept: Uint8Array | undefined): string | undefined {
  if (kept === undefined) {
    return (
      "nothing of that file is known to be on stable storage (on files, the suite saw no " +
      "fdatasync, fsync or msync of it; a store kept elsewhere gives the suite durableBytes)"
    );
  }
  for (let at = 0; at < written.byteLength; at++) {
    if (kept[at] !== written[at]) {
      return `byte ${at} of it is ${hex(kept[at])} on stable storage, ${hex(written[at])} written`;
    }
  }
  return undefined;
}

/**
 * `factory` with every adapter it opens watched; each broken promise is added to `failures` as
 * a sentence naming the file kind, segment and offset.
 *
 * @example
 * const failures: string[] = [];
 * const watched = observedFactory(fileAdapter(), durable, failures);
 */
export function observedFactory(
  factory: AdapterFactory,
  durable: DurableBytes,
  failures: string[],
): AdapterFactory {
  return async (options) => {
    const adapter = await factory(options);
    return observed(adapter, options.fileKind ?? "data", durable, failures);
  };
}

function observed(
  adapter: FlushAdapter,
  kind: SegmentFileKind,
  durable: DurableBytes,
  failures: string[],
): FlushAdapter {
  const staged = new Map<Region, Uint8Array>();
  let pending: Written[] = [];
  return delegatingAdapter(adapter, {
    stage: (region) => {
      const view = adapter.stage(region);
      staged.set(region, view);
      return view;
    },
    write: (region) => {
      const view = staged.get(region);
      staged.delete(region);
      if (view !== undefined) {
        // A later write over the same bytes supersedes what an earlier one promised.
        pending = pending.filter((written) => !overlaps(written.region, region));
        pending.push({ region, bytes: view.slice() });
      }
      return adapter.write(region);
    },
    flush: async (region, mode) => {
      const covered = pending.filter((written) => inside(written.region, region));
      pending = pending.filter((written) => !inside(written.region, region));
      await adapter.flush(region, mode);
      // An asynchronous flush promises nothing when it returns (claim 14).
      if (mode !== "sync") return;
      for (const written of covered) {
        const why = difference(written.bytes, durable(kind, written.region));
        if (why === undefined) continue;
        const { segment, offset, byteSize } = written.region;
        failures.push(
          `a sync flush of ${kind} segment ${segment} resolved, but a power cut then would ` +
            `lose the ${byteSize} bytes written at offset ${offset}: ${why}`,
        );
      }
    },
  });
}

/**
 * An adapter that passes every call to another, except the ones it overrides: the way to wrap
 * an adapter (fault injection, serialization, counting) without copying its whole interface.
 */
import type { FlushAdapter } from "@spool/core";

/**
 * `adapter` with `overrides` in place of its own methods.
 *
 * @example
 * const slow = delegatingAdapter(adapter, { flush: async (r, m) => { await pause(); return adapter.flush(r, m); } });
 */
export function delegatingAdapter(
  adapter: FlushAdapter,
  overrides: Partial<FlushAdapter> = {},
): FlushAdapter {
  return {
    name: adapter.name,
    ...(adapter.pipelining === undefined ? {} : { pipelining: adapter.pipelining }),
    ...(adapter.concurrentFlushes === undefined
      ? {}
      : { concurrentFlushes: adapter.concurrentFlushes }),
    readManifest: (name) => adapter.readManifest(name),
    writeManifest: (text, name) => adapter.writeManifest(text, name),
    listSegments: () => adapter.listSegments(),
    prepareSegment: (segment) => adapter.prepareSegment(segment),
    isMapped: (segment) => adapter.isMapped(segment),
    map: (segment) => adapter.map(segment),
    stage: (region) => adapter.stage(region),
    write: (region) => adapter.write(region),
    flush: (region, mode) => adapter.flush(region, mode),
    // An overridden flush may not do what the inner adapter's does: only its own override
    // of whenFlushed may then vouch for it.
    whenFlushed: () => (overrides.flush === undefined ? (adapter.whenFlushed?.() ?? null) : null),
    read: (segment, offset, size) => adapter.read(segment, offset, size),
    removeSegment: (segment) => adapter.removeSegment(segment),
    ...(adapter.recycleSegment === undefined
      ? {}
      : { recycleSegment: (segment) => adapter.recycleSegment?.(segment) ?? Promise.resolve() }),
    ...(adapter.segmentsPrepared === undefined
      ? {}
      : {
          segmentsPrepared: () => adapter.segmentsPrepared?.() ?? { zeroFilled: 0, recycled: 0 },
        }),
    close: () => adapter.close(),
    ...overrides,
  };
}

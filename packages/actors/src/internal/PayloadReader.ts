/**
 * Reads messages' payloads back from the data segments for consumers, through a read-ahead
 * window: consumers take in seq order, so one read serves the next few hundred takes.
 */
import {
  byteSize,
  decodeRecord,
  type FlushAdapter,
  type MessageLocation,
  recordByteSize,
  SpoolCorrupt,
} from "@spool/core";

/** A read-ahead window of the data file. */
interface ReadWindow {
  readonly segment: number;
  readonly offset: number;
  readonly byteSize: number;
  readonly bytes: Promise<Uint8Array>;
}

// 256 KiB: one read serves a few hundred 1 KiB takes, and stays small against a segment.
const READ_AHEAD_BYTE_SIZE = 256 * 1024;

/**
 * A message's payload by its location, read through the last read-ahead window.
 *
 * @example
 * const payload = await new PayloadReader(adapter, config.segmentByteSize).read(location);
 */
export class PayloadReader {
  readonly #adapter: FlushAdapter;
  readonly #segmentByteSize: number;
  /** The last read-ahead window of the data file, for takes in seq order. */
  #readWindow: ReadWindow | undefined;

  constructor(adapter: FlushAdapter, segmentByteSize: number) {
    this.#adapter = adapter;
    this.#segmentByteSize = segmentByteSize;
  }

  /**
   * The payload of the message at `location`; one read of 256 KiB serves the next few hundred
   * takes of 1 KiB messages. Rejects with `SpoolCorrupt` when the record there no longer reads
   * back as that message.
   */
  async read(location: MessageLocation): Promise<Uint8Array> {
    const cached = this.#readWindow;
    if (cached !== undefined) {
      // A window read before this record was written holds zeros where it now lies: on a miss
      // the record is read afresh below.
      const record = await this.#readFrom(cached, location).catch(() => undefined);
      if (record?.ok && record.header.seq === location.seq) return record.payload;
    }
    const size = recordByteSize(location.payloadByteSize);
    const byteSizeToRead = Math.min(
      Math.max(READ_AHEAD_BYTE_SIZE, size),
      this.#segmentByteSize - location.offset,
    );
    const window = {
      segment: location.segment,
      offset: location.offset,
      byteSize: byteSizeToRead,
      bytes: this.#adapter.read(location.segment, location.offset, byteSize(byteSizeToRead)),
    };
    this.#readWindow = window;
    const record = await this.#readFrom(window, location).catch((error: unknown) => {
      if (this.#readWindow === window) this.#readWindow = undefined;
      throw error;
    });
    if (record === undefined || !record.ok || record.header.seq !== location.seq) {
      const why = record === undefined ? "short read" : record.ok ? "wrong seq" : record.defect;
      throw new SpoolCorrupt({
        file: `segment ${location.segment}`,
        offset: location.offset,
        reason: `record ${location.seq} no longer reads back (${why})`,
      });
    }
    return record.payload;
  }

  /** Decodes the record at `location` from a window, or undefined when it lies outside. */
  async #readFrom(
    window: ReadWindow,
    location: MessageLocation,
  ): Promise<ReturnType<typeof decodeRecord> | undefined> {
    const end = location.offset + recordByteSize(location.payloadByteSize);
    if (window.segment !== location.segment) return undefined;
    if (location.offset < window.offset || end > window.offset + window.byteSize) return undefined;
    const bytes = await window.bytes;
    return decodeRecord(bytes.subarray(location.offset - window.offset), 0);
  }
}

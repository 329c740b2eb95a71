/**
 * The wire format of writers in other processes (protocol version 1): length-prefixed binary
 * frames over a Unix-domain stream socket, carrying the same messages a worker thread's port
 * carries ({@link ToWriter}, {@link ToSpool}) plus the session's own (connect, session, ping,
 * refused). Every integer is little-endian; `f64` is an IEEE 754 double holding a whole number.
 *
 * The table is the protocol's reference and is read by `test/SocketFrames.test.ts`, which
 * builds every frame from it by hand and has this module and a served spool accept them: edit
 * the two together.
 *
 * ```
 * frame      = length:u32 type:u8 body      (length counts type and body)
 * str        = size:u32 utf8:u8×size
 * json       = str, holding JSON text
 * durability = u8: 0 flushed, 1 async
 * opening    = connect → session → hello    (or → refused, and the spool closes)
 *
 * name       type  from    body, field by field
 * connect       1  writer  version:u16 pid:u32 magic:"SPOOLW"
 * session       2  spool   token:f64 leaseMs:u32
 * refused       3  spool   reason:str
 * ping          4  writer  token:f64
 * hello        10  spool   version:u16 senderId:u32 dir:str config:json
 * receipt      11  spool   (empty)
 * written      12  spool   batchId:u32 level:durability count:u32 (id:f64 seq:f64)×count
 * resend       13  spool   count:u32 (id:f64)×count
 * failed       14  spool   count:u32 (id:f64)×count error:json
 * send         20  writer  token:f64 last:u8 count:u32 (id:f64 durability:durability
 *                          size:u32 payload:u8×size)×count
 * confirmed    21  writer  token:f64 batchId:u32
 * ```
 *
 * A session opens with the writer's `connect`; the spool answers `session` (the fencing token
 * every later writer frame carries, and the lease that `ping` renews), then `hello` (the spool's
 * config). `error` in `failed` is `{tag, fields}`. A `send` too large for one frame is split:
 * `last` is 0 on every part but the final one, and the spool hands the parts over as one group.
 * Frames are length-checked before anything is allocated for them; a frame that is too long, of
 * an unknown type, or that does not parse closes that connection only.
 */
import type { Durability, SpoolConfig } from "@spool/core";
import type { ToSpool, ToWriter } from "./WriterPort.js";

export const SOCKET_PROTOCOL_VERSION = 1;
const MAGIC = "SPOOLW";

/** Frame types, one byte each. */
const FRAME = {
  connect: 1,
  session: 2,
  refused: 3,
  ping: 4,
  hello: 10,
  receipt: 11,
  written: 12,
  resend: 13,
  failed: 14,
  send: 20,
  confirmed: 21,
} as const;

/** Everything a writer sends, after `connect`. */
export type WriterFrame =
  | { readonly t: "connect"; readonly version: number; readonly pid: number }
  | { readonly t: "ping"; readonly token: number }
  | {
      readonly t: "part";
      readonly token: number;
      readonly last: boolean;
      readonly message: ToSpool;
    };

/** Everything the spool sends. */
export type SpoolFrame =
  | { readonly t: "session"; readonly token: number; readonly leaseMs: number }
  | { readonly t: "refused"; readonly reason: string }
  | ToWriter;

/**
 * Requests in one `send` frame: a frame of empty requests would otherwise make the spool build
 * some 650,000 objects from 8 MiB. Senders split larger groups (`encodeToSpool`).
 */
export const SEND_FRAME_REQUESTS_MAX = 65_536;

/** A frame that breaks the protocol; its connection is closed. */
export class FrameInvalid extends Error {}

const DURABILITY: readonly Durability[] = ["flushed", "async"];

/** A growable little-endian writer for one frame. */
class FrameBuilder {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  #at = 4;

  constructor(type: number) {
    this.u8(type);
  }

  #room(byteSize: number): void {
    if (this.#at + byteSize <= this.#bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(this.#bytes.byteLength * 2, this.#at + byteSize));
    grown.set(this.#bytes);
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }
  u8(value: number): this {
    this.#room(1);
    this.#view.setUint8(this.#at, value);
    this.#at += 1;
    return this;
  }
  u16(value: number): this {
    this.#room(2);
    this.#view.setUint16(this.#at, value, true);
    this.#at += 2;
    return this;
  }
  u32(value: number): this {
    this.#room(4);
    this.#view.setUint32(this.#at, value, true);
    this.#at += 4;
    return this;
  }
  f64(value: number): this {
    this.#room(8);
    this.#view.setFloat64(this.#at, value, true);
    this.#at += 8;
    return this;
  }
  bytes(value: Uint8Array): this {
    this.#room(value.byteLength);
    this.#bytes.set(value, this.#at);
    this.#at += value.byteLength;
    return this;
  }
  str(value: string): this {
    const encoded = Buffer.from(value, "utf8");
    return this.u32(encoded.byteLength).bytes(encoded);
  }
  /** The frame, its length filled in. */
  done(): Uint8Array {
    this.#view.setUint32(0, this.#at - 4, true);
    return this.#bytes.subarray(0, this.#at);
  }
}

/** Reads one frame's body; every read is bounds-checked. */
class FrameParser {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;

  constructor(body: Uint8Array) {
    this.#bytes = body;
    this.#view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  }
  #need(byteSize: number): number {
    if (this.#at + byteSize > this.#bytes.byteLength) throw new FrameInvalid("frame too short");
    const at = this.#at;
    this.#at += byteSize;
    return at;
  }
  u8(): number {
    return this.#view.getUint8(this.#need(1));
  }
  u16(): number {
    return this.#view.getUint16(this.#need(2), true);
  }
  u32(): number {
    return this.#view.getUint32(this.#need(4), true);
  }
  f64(): number {
    const value = this.#view.getFloat64(this.#need(8), true);
    if (!Number.isSafeInteger(value) || value < 0) throw new FrameInvalid("bad number");
    return value;
  }
  /** A copy: the payload outlives the socket's chunk it arrived in. */
  bytes(byteSize: number): Uint8Array {
    const at = this.#need(byteSize);
    return this.#bytes.slice(at, at + byteSize);
  }
  str(): string {
    const size = this.u32();
    const at = this.#need(size);
    return Buffer.from(this.#bytes.buffer, this.#bytes.byteOffset + at, size).toString("utf8");
  }
  json(): unknown {
    try {
      return JSON.parse(this.str());
    } catch {
      throw new FrameInvalid("bad JSON");
    }
  }
  /** Ends the parse: trailing bytes are an error. */
  end(): void {
    if (this.#at !== this.#bytes.byteLength) throw new FrameInvalid("trailing bytes");
  }
  durability(): Durability {
    const value = DURABILITY[this.u8()];
    if (value === undefined) throw new FrameInvalid("bad durability");
    return value;
  }
  count(minItemByteSize: number): number {
    const count = this.u32();
    // A count the rest of the frame cannot hold is refused before any array is made.
    if (count * minItemByteSize > this.#bytes.byteLength - this.#at) {
      throw new FrameInvalid("count larger than the frame");
    }
    return count;
  }
}

/** The writer's first frame. */
export function encodeConnect(pid: number): Uint8Array {
  const frame = new FrameBuilder(FRAME.connect).u16(SOCKET_PROTOCOL_VERSION).u32(pid);
  for (const char of MAGIC) frame.u8(char.charCodeAt(0));
  return frame.done();
}

export function encodePing(token: number): Uint8Array {
  return new FrameBuilder(FRAME.ping).f64(token).done();
}

/**
 * A writer's message as frames no longer than `frameByteSizeMax` each: a `send` is split
 * between requests where it must (one request always fits: the spool's largest record does).
 */
export function encodeToSpool(
  message: ToSpool,
  token: number,
  frameByteSizeMax: number,
): Uint8Array[] {
  if (message.t === "confirmed") {
    return [new FrameBuilder(FRAME.confirmed).f64(token).u32(message.batchId).done()];
  }
  const frames: Uint8Array[] = [];
  const headerByteSize = 4 + 1 + 8 + 1 + 4;
  let start = 0;
  while (start < message.requests.length || frames.length === 0) {
    let end = start;
    let byteSize = headerByteSize;
    while (end < message.requests.length) {
      const next = 8 + 1 + 4 + message.requests[end]!.payload.byteLength;
      const full = byteSize + next > frameByteSizeMax || end - start === SEND_FRAME_REQUESTS_MAX;
      if (end > start && full) break;
      byteSize += next;
      end += 1;
    }
    const frame = new FrameBuilder(FRAME.send)
      .f64(token)
      .u8(end === message.requests.length ? 1 : 0)
      .u32(end - start);
    for (let at = start; at < end; at++) {
      const request = message.requests[at]!;
      frame
        .f64(request.id)
        .u8(DURABILITY.indexOf(request.durability))
        .u32(request.payload.byteLength)
        .bytes(request.payload);
    }
    frames.push(frame.done());
    start = end;
  }
  return frames;
}

export function encodeToWriter(message: SpoolFrame): Uint8Array {
  switch (message.t) {
    case "session":
      return new FrameBuilder(FRAME.session).f64(message.token).u32(message.leaseMs).done();
    case "refused":
      return new FrameBuilder(FRAME.refused).str(message.reason).done();
    case "hello":
      return new FrameBuilder(FRAME.hello)
        .u16(message.version)
        .u32(message.senderId)
        .str(message.dir)
        .str(JSON.stringify(message.config))
        .done();
    case "receipt":
      return new FrameBuilder(FRAME.receipt).done();
    case "written": {
      const frame = new FrameBuilder(FRAME.written)
        .u32(message.batchId)
        .u8(DURABILITY.indexOf(message.level))
        .u32(message.ids.length);
      for (let at = 0; at < message.ids.length; at++) {
        frame.f64(message.ids[at]!).f64(message.seqs[at]!);
      }
      return frame.done();
    }
    case "resend": {
      const frame = new FrameBuilder(FRAME.resend).u32(message.ids.length);
      for (const id of message.ids) frame.f64(id);
      return frame.done();
    }
    case "failed": {
      const frame = new FrameBuilder(FRAME.failed).u32(message.ids.length);
      for (const id of message.ids) frame.f64(id);
      return frame.str(JSON.stringify(message.error)).done();
    }
  }
}

export function decodeWriterFrame(body: Uint8Array): WriterFrame {
  const parse = new FrameParser(body);
  const type = parse.u8();
  let frame: WriterFrame;
  switch (type) {
    case FRAME.connect: {
      const version = parse.u16();
      const pid = parse.u32();
      let magic = "";
      for (let at = 0; at < MAGIC.length; at++) magic += String.fromCharCode(parse.u8());
      if (magic !== MAGIC) throw new FrameInvalid("not a Spool writer");
      frame = { t: "connect", version, pid };
      break;
    }
    case FRAME.ping:
      frame = { t: "ping", token: parse.f64() };
      break;
    case FRAME.confirmed: {
      const token = parse.f64();
      frame = { t: "part", token, last: true, message: { t: "confirmed", batchId: parse.u32() } };
      break;
    }
    case FRAME.send: {
      const token = parse.f64();
      const last = parse.u8() === 1;
      const count = parse.count(8 + 1 + 4);
      if (count > SEND_FRAME_REQUESTS_MAX) {
        throw new FrameInvalid(
          `${count} requests in one frame (at most ${SEND_FRAME_REQUESTS_MAX})`,
        );
      }
      const requests: { id: number; payload: Uint8Array; durability: Durability }[] = [];
      for (let at = 0; at < count; at++) {
        const id = parse.f64();
        const durability = parse.durability();
        requests.push({ id, durability, payload: parse.bytes(parse.u32()) });
      }
      frame = { t: "part", token, last, message: { t: "send", requests } };
      break;
    }
    default:
      throw new FrameInvalid(`unknown frame type ${type}`);
  }
  parse.end();
  return frame;
}

export function decodeSpoolFrame(body: Uint8Array): SpoolFrame {
  const parse = new FrameParser(body);
  const type = parse.u8();
  let frame: SpoolFrame;
  const ids = (): number[] => {
    const count = parse.count(8);
    return Array.from({ length: count }, () => parse.f64());
  };
  switch (type) {
    case FRAME.session:
      frame = { t: "session", token: parse.f64(), leaseMs: parse.u32() };
      break;
    case FRAME.refused:
      frame = { t: "refused", reason: parse.str() };
      break;
    case FRAME.hello:
      frame = {
        t: "hello",
        version: parse.u16(),
        senderId: parse.u32(),
        dir: parse.str(),
        config: parse.json() as SpoolConfig,
      };
      break;
    case FRAME.receipt:
      frame = { t: "receipt" };
      break;
    case FRAME.written: {
      const batchId = parse.u32();
      const level = parse.durability();
      const count = parse.count(16);
      const written = { ids: [] as number[], seqs: [] as number[] };
      for (let at = 0; at < count; at++) {
        written.ids.push(parse.f64());
        written.seqs.push(parse.f64());
      }
      frame = { t: "written", batchId, level, ...written };
      break;
    }
    case FRAME.resend:
      frame = { t: "resend", ids: ids() };
      break;
    case FRAME.failed: {
      const failedIds = ids();
      const error = parse.json() as { tag: string; fields: Record<string, unknown> };
      frame = { t: "failed", ids: failedIds, error };
      break;
    }
    default:
      throw new FrameInvalid(`unknown frame type ${type}`);
  }
  parse.end();
  return frame;
}

/**
 * Cuts a byte stream into frame bodies. A frame longer than `frameByteSizeMax` is refused from
 * its length alone, before its bytes are awaited or stored.
 */
export class FrameReader {
  readonly #frameByteSizeMax: number;
  #pending: Buffer[] = [];
  #pendingByteSize = 0;

  constructor(frameByteSizeMax: number) {
    this.#frameByteSizeMax = frameByteSizeMax;
  }

  /** The complete frames' bodies in `chunk` and what came before it. */
  push(chunk: Buffer): Uint8Array[] {
    this.#pending.push(chunk);
    this.#pendingByteSize += chunk.byteLength;
    const bodies: Uint8Array[] = [];
    for (;;) {
      if (this.#pendingByteSize < 4) return bodies;
      if (this.#pending[0]!.byteLength < 4) this.#join();
      const length = this.#pending[0]!.readUInt32LE(0);
      if (length === 0 || length > this.#frameByteSizeMax) {
        throw new FrameInvalid(`frame of ${length} bytes (at most ${this.#frameByteSizeMax})`);
      }
      // Chunks are joined once the whole frame is here, not on every arrival.
      if (this.#pendingByteSize < 4 + length) return bodies;
      const joined = this.#join();
      bodies.push(joined.subarray(4, 4 + length));
      const rest = joined.subarray(4 + length);
      this.#pending = rest.byteLength > 0 ? [rest] : [];
      this.#pendingByteSize = rest.byteLength;
    }
  }

  #join(): Buffer {
    if (this.#pending.length > 1) this.#pending = [Buffer.concat(this.#pending)];
    return this.#pending[0]!;
  }
}

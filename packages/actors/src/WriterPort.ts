/**
 * Claim 34 across worker threads: a writer in another thread reaches the spool's synchronizer
 * over a MessagePort, through the same shared lock (a {@link SharedMemoryLock} word both sides
 * map) and the same writer machine ({@link SenderRuntime}) as in-process writers.
 *
 * The spool's side ({@link PortEndpoint}) registers with the synchronizer as one writer and
 * relays: request groups in, receipts, write confirmations, resends and failures out, and
 * confirmations of confirmation back in. The worker's side ({@link connectWriter}) is a
 * {@link SynchronizerPort} over the port, handed to a SenderRuntime there. Payloads cross once,
 * copied by the structured clone.
 *
 * Protocol (version 1), one object per message:
 * - spool → worker: `hello` {version, senderId, writerId, dir, config, lock} first; then
 *   `receipt` {}, `written` {batchId, ids, seqs, level}, `resend` {ids}, `failed` {ids, error}.
 * - worker → spool: `send` {requests: [{id, payload, durability}]}, `confirmed` {batchId}.
 */
import type { MessagePort } from "node:worker_threads";
import {
  type AppendError,
  type BatchId,
  byteOffset,
  byteSize,
  type Durability,
  FlushFailed,
  type PlacedWrite,
  RecordTooLarge,
  type RequestId,
  type Seq,
  SpoolClosed,
  type SpoolConfig,
  SpoolFull,
  SpoolOverloaded,
  StorageFailed,
  segmentNumber,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import { SharedMemoryLock } from "./SharedMemoryLock.js";
import type {
  Synchronizer,
  SynchronizerPort,
  WriterEndpoint,
  WrittenNotice,
} from "./Synchronizer.js";
import { type AppendOptions, type AppendResult, SenderRuntime, Writer } from "./Writer.js";

/** The protocol's version; `connectWriter` refuses any other. */
export const WRITER_PORT_VERSION = 1;

type ToWorker =
  | {
      readonly t: "hello";
      readonly version: number;
      readonly senderId: number;
      readonly dir: string;
      readonly config: SpoolConfig;
      readonly lock: SharedArrayBuffer;
    }
  | { readonly t: "receipt" }
  | {
      readonly t: "written";
      readonly batchId: number;
      readonly ids: readonly number[];
      readonly seqs: readonly number[];
      readonly level: Durability;
    }
  | { readonly t: "resend"; readonly ids: readonly number[] }
  | {
      readonly t: "failed";
      readonly ids: readonly number[];
      readonly error: { readonly tag: string; readonly fields: Record<string, unknown> };
    };

type ToSpool =
  | {
      readonly t: "send";
      readonly requests: readonly {
        readonly id: number;
        readonly payload: Uint8Array;
        readonly durability: Durability;
      }[];
    }
  | { readonly t: "confirmed"; readonly batchId: number };

// Remote requests get spool-wide ids above every id the spool's own sender will reach (2^40
// appends), so admission, which tells requests apart by id, never confuses two senders'.
export const REMOTE_REQUEST_ID_BASE = 2 ** 40;

/** What the spool lends a port endpoint. */
export interface PortHost {
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly synchronizer: Synchronizer;
  readonly lockBuffer: SharedArrayBuffer;
  readonly lock: SharedMemoryLock;
  /** A new writer id for the thread, unique in the spool. */
  readonly nextWriterId: () => WriterId;
  readonly nextRequestId: () => number;
}

/**
 * The spool's side of a worker thread's writer.
 *
 * @example
 * const { port1, port2 } = new MessageChannel();
 * new PortEndpoint(host, port1); worker.postMessage({ port: port2 }, [port2]);
 */
export class PortEndpoint implements WriterEndpoint {
  readonly id: WriterId;
  readonly #host: PortHost;
  readonly #port: MessagePort;
  /** Spool-wide request id → the worker's id, for requests the synchronizer holds. */
  readonly #workerIds = new Map<number, number>();
  readonly #confirmations = new Map<number, () => void>();
  #closed = false;

  constructor(host: PortHost, port: MessagePort) {
    this.#host = host;
    this.#port = port;
    this.id = host.nextWriterId();
    host.synchronizer.register(this);
    port.on("message", (message: ToSpool) => this.#receive(message));
    port.on("close", () => this.close());
    this.#post({
      t: "hello",
      version: WRITER_PORT_VERSION,
      senderId: this.id,
      dir: host.dir,
      config: host.config,
      lock: host.lockBuffer,
    });
  }

  #post(message: ToWorker): void {
    if (!this.#closed) this.#port.postMessage(message);
  }

  #receive(message: ToSpool): void {
    if (message.t === "confirmed") {
      const confirm = this.#confirmations.get(message.batchId);
      this.#confirmations.delete(message.batchId);
      confirm?.();
      return;
    }
    const requests = message.requests.map((incoming): WriteRequest => {
      const id = this.#host.nextRequestId();
      this.#workerIds.set(id, incoming.id);
      return {
        id: id as RequestId,
        writerId: this.id,
        senderId: this.id,
        payload: incoming.payload,
        durability: incoming.durability,
        target: undefined,
      };
    });
    const refusal = this.#host.synchronizer.send(requests, () => this.#post({ t: "receipt" }));
    if (refusal !== undefined) {
      this.#post({ t: "receipt" });
      this.failed(requests, refusal);
    }
  }

  /** The thread's ids of requests the synchronizer is done with, forgotten here. */
  #release(requests: readonly WriteRequest[]): number[] {
    return requests.map((request) => {
      const id = this.#workerIds.get(request.id);
      if (id === undefined) throw new Error(`request ${request.id} is not this thread's`);
      this.#workerIds.delete(request.id);
      return id;
    });
  }

  /** @internal The write confirmation, relayed; the thread's answer calls `confirm`. */
  written(notice: WrittenNotice, confirm: () => void): void {
    const ids = this.#release(notice.writes.map((write) => write.request));
    this.#confirmations.set(notice.batchId, confirm);
    const seqs = notice.writes.map((write) => write.seq);
    this.#post({ t: "written", batchId: notice.batchId, ids, seqs, level: notice.level });
  }

  /** @internal Skipped requests go back to the thread to be sent again. */
  resend(requests: readonly WriteRequest[]): void {
    this.#post({ t: "resend", ids: this.#release(requests) });
  }

  /** @internal These requests will never be written. */
  failed(requests: readonly WriteRequest[], error: AppendError): void {
    const ids = this.#release(requests);
    const { _tag, ...fields } = error as AppendError & Record<string, unknown>;
    delete fields.cause;
    this.#post({ t: "failed", ids, error: { tag: _tag, fields } });
  }

  /**
   * The thread is gone (its port closed): forget it, so a batch waiting for its confirmation
   * counts it as vanished, and free the lock if it died holding it. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#host.synchronizer.unregister(this.id);
    this.#host.lock.releaseIfHeldBy(this.id);
    for (const confirm of this.#confirmations.values()) confirm();
    this.#confirmations.clear();
    this.#port.close();
  }
}

/** Rebuilds a typed append error that crossed the port as its tag and fields. */
function reviveError(error: { tag: string; fields: Record<string, unknown> }): AppendError {
  const f = error.fields as never;
  switch (error.tag) {
    case "FlushFailed":
      return new FlushFailed({ ...(f as object), cause: undefined } as never);
    case "StorageFailed":
      return new StorageFailed({ ...(f as object), cause: undefined } as never);
    case "RecordTooLarge":
      return new RecordTooLarge(f);
    case "SpoolOverloaded":
      return new SpoolOverloaded(f);
    case "SpoolFull":
      return new SpoolFull(f);
    default:
      return new SpoolClosed(f);
  }
}

/** The worker's side: the synchronizer, as far as its SenderRuntime can tell. */
class RemoteSynchronizer implements SynchronizerPort {
  #endpoint: WriterEndpoint | undefined;
  readonly #port: MessagePort;
  readonly #receipts: (() => void)[] = [];
  /** Requests the spool holds, by this thread's id. */
  readonly #held = new Map<number, WriteRequest>();
  #gone: AppendError | undefined;

  constructor(port: MessagePort, dir: string) {
    this.#port = port;
    port.on("message", (message: ToWorker) => this.#receive(message));
    port.on("close", () => this.#lose(new SpoolClosed({ dir })));
  }

  register(endpoint: WriterEndpoint): void {
    this.#endpoint = endpoint;
  }

  send(requests: readonly WriteRequest[], receipt: () => void): AppendError | undefined {
    if (this.#gone !== undefined) return this.#gone;
    for (const request of requests) this.#held.set(request.id, request);
    this.#receipts.push(receipt);
    const outgoing = requests.map((request) => ({
      id: request.id,
      payload: request.payload,
      durability: request.durability,
    }));
    this.#port.postMessage({ t: "send", requests: outgoing } satisfies ToSpool);
    return undefined;
  }

  #take(ids: readonly number[]): WriteRequest[] {
    return ids.map((id) => {
      const request = this.#held.get(id);
      if (request === undefined) throw new Error(`the spool answered for unknown request ${id}`);
      this.#held.delete(id);
      return request;
    });
  }

  #receive(message: ToWorker): void {
    const endpoint = this.#endpoint!;
    switch (message.t) {
      case "hello":
        return;
      case "receipt":
        this.#receipts.shift()?.();
        return;
      case "written": {
        const requests = this.#take(message.ids);
        const writes = requests.map(
          (request, at): PlacedWrite => ({
            request,
            seq: message.seqs[at] as Seq,
            segment: segmentNumber(1),
            offset: byteOffset(0),
            byteSize: byteSize(request.payload.byteLength),
          }),
        );
        const notice = { batchId: message.batchId as BatchId, writes, level: message.level };
        endpoint.written(notice, () => {
          this.#port.postMessage({ t: "confirmed", batchId: message.batchId } satisfies ToSpool);
        });
        return;
      }
      case "resend":
        endpoint.resend(this.#take(message.ids));
        return;
      case "failed":
        endpoint.failed(this.#take(message.ids), reviveError(message.error));
        return;
    }
  }

  /** The spool is gone: every request it held fails, and later sends are refused. */
  #lose(error: AppendError): void {
    if (this.#gone !== undefined) return;
    this.#gone = error;
    const held = [...this.#held.values()];
    this.#held.clear();
    for (const receipt of this.#receipts.splice(0)) receipt();
    if (held.length > 0) this.#endpoint?.failed(held, error);
  }
}

/** A writer in a worker thread, connected to a spool in another. */
export interface PortWriter {
  /** Appends one record; resolves once it is durable, as `Writer.append` does. */
  append(payload: Uint8Array | string, options?: AppendOptions): Promise<AppendResult>;
  /** Disconnects: appends not yet confirmed fail with SpoolClosed. */
  close(): void;
}

/**
 * Connects a writer over a port from `spool.port()` (inside the worker thread it was sent to).
 *
 * @example
 * const writer = await connectWriter(workerData.port);
 * await writer.append("from a worker");
 */
export function connectWriter(port: MessagePort): Promise<PortWriter> {
  return new Promise((resolve, reject) => {
    port.once("message", (hello: ToWorker) => {
      if (hello.t !== "hello" || hello.version !== WRITER_PORT_VERSION) {
        reject(new Error(`not a Spool writer port (version ${WRITER_PORT_VERSION} expected)`));
        return;
      }
      const id = hello.senderId as WriterId;
      const synchronizer = new RemoteSynchronizer(port, hello.dir);
      const lock = new SharedMemoryLock(hello.lock);
      const context = { id, dir: hello.dir, config: hello.config, lock, synchronizer };
      const sender = new SenderRuntime(context);
      const writer = new Writer(id, `thread-${id}`, sender, hello.dir, hello.config);
      resolve({
        append: (payload, options) => writer.append(payload, options),
        close: () => {
          writer.close();
          port.close();
        },
      });
    });
  });
}

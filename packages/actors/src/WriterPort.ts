/**
 * Claim 34 across boundaries: a writer in another thread (over a MessagePort) or another process
 * (over a Unix socket, see `WriterSocket.ts`) reaches the spool's synchronizer through a
 * {@link Link}, and runs the same writer machine ({@link SenderRuntime}) as in-process writers.
 *
 * The spool's side ({@link RemoteEndpoint}) registers with the synchronizer as one writer. It
 * takes the spool's lock (the {@link SharedMemoryLock} in-process writers take) on the remote
 * writer's behalf for each request group, hands the group to the synchronizer, and relays the
 * receipt, write confirmations, resends and failures out and confirmations of confirmation in.
 * The remote side ({@link connectWriter}) is a {@link SynchronizerPort} over the link, handed to
 * a SenderRuntime there; its writers share a lock of their own.
 *
 * Receipts are pipelined with credit: the remote side counts a group as received once it is on
 * the link, while fewer than {@link RECEIPT_WINDOW} groups wait for the spool's receipt, and
 * holds its lock otherwise. A round trip per group would cap a thread at one group per round
 * trip (measured: 8 threads reached a quarter of the in-process rate); the window keeps the
 * spool's intake bounded all the same, because the spool receipts a group only when its
 * synchronizer took it.
 *
 * Protocol (version 1), one message each:
 * - spool → writer: `hello` {version, senderId, dir, config} first; then `receipt` {},
 *   `written` {batchId, ids, seqs, level}, `resend` {ids}, `failed` {ids, error}.
 * - writer → spool: `send` {requests: [{id, payload, durability}]}, `confirmed` {batchId}.
 */
import type { MessagePort } from "node:worker_threads";
import {
  type AppendError,
  type Durability,
  InvariantViolation,
  type Payload,
  type RequestId,
  SpoolClosed,
  type SpoolConfig,
  type SpoolFailed,
  SpoolUnreachable,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import { checkRequest, isMessage, requestIdOf } from "./internal/PortMessages.js";
import { RemoteSynchronizer } from "./internal/RemoteSynchronizer.js";
import { inProcessLock } from "./SharedLock.js";
import type { SharedMemoryLock } from "./SharedMemoryLock.js";
import type { Synchronizer, WriterEndpoint, WrittenNotice } from "./Synchronizer.js";
import { type AppendOptions, type AppendResult, SenderRuntime, Writer } from "./Writer.js";

/** The protocol's version; `connectWriter` refuses any other. */
export const WRITER_PORT_VERSION = 1;

/**
 * How many request groups a remote writer may have on the link without the spool's receipt.
 * Each group is one microtask's appends of one thread or process, so the spool's intake holds
 * at most this many groups per remote writer beyond what its synchronizer took.
 */
export const RECEIPT_WINDOW = 64;

/** A message from the spool to a remote writer. */
export type ToWriter =
  | {
      readonly t: "hello";
      readonly version: number;
      readonly senderId: number;
      readonly dir: string;
      readonly config: SpoolConfig;
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

/** One request as a remote writer sends it. */
export interface ToSpoolRequest {
  readonly id: number;
  readonly payload: Uint8Array;
  readonly durability: Durability;
}

/** A message from a remote writer to the spool. */
export type ToSpool =
  | { readonly t: "send"; readonly requests: readonly ToSpoolRequest[] }
  | { readonly t: "confirmed"; readonly batchId: number };

// Remote requests get spool-wide ids above every id the spool's own sender will reach (2^40
// appends), so admission, which tells requests apart by id, never confuses two senders'.
export const REMOTE_REQUEST_ID_BASE = 2 ** 40;

/**
 * One side of a message link: ordered, reliable while open, closed from either side. A
 * MessagePort is one ({@link portLink}); a Unix socket with frames is another.
 */
export interface Link<In, Out> {
  post(message: Out): void;
  /** Starts delivery: `onMessage` for each message in order, then `onClose` once. */
  listen(onMessage: (message: In) => void, onClose: () => void): void;
  close(): void;
}

/** A MessagePort as a link (the structured clone copies each payload once). */
export function portLink<In, Out>(port: MessagePort): Link<In, Out> {
  return {
    post: (message) => port.postMessage(message),
    listen: (onMessage, onClose) => {
      port.on("message", onMessage);
      port.on("close", onClose);
    },
    close: () => port.close(),
  };
}

/** What the spool lends a remote endpoint. */
export interface PortHost {
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly synchronizer: Synchronizer;
  readonly lock: SharedMemoryLock;
  /** A new writer id for the thread, unique in the spool. */
  readonly nextWriterId: () => WriterId;
  readonly nextRequestId: () => number;
}

/**
 * The spool's side of a remote writer (a worker thread's or another process's).
 *
 * @example
 * const { port1, port2 } = new MessageChannel();
 * new RemoteEndpoint(host, portLink(port1)); worker.postMessage({ port: port2 }, [port2]);
 */
export class RemoteEndpoint implements WriterEndpoint {
  readonly id: WriterId;
  readonly #host: PortHost;
  readonly #link: Link<ToSpool, ToWriter>;
  /** Spool-wide request id → the remote writer's id, for requests the synchronizer holds. */
  readonly #remoteIds = new Map<number, number>();
  readonly #confirmations = new Map<number, () => void>();
  /** Groups received and not yet handed to the synchronizer, oldest first. */
  readonly #groups: WriteRequest[][] = [];
  /** Whether this endpoint holds or waits for the spool's lock. */
  #handing = false;
  #closed = false;
  readonly #onClose: (() => void) | undefined;

  constructor(host: PortHost, link: Link<ToSpool, ToWriter>, onClose?: () => void) {
    this.#host = host;
    this.#link = link;
    this.#onClose = onClose;
    this.id = host.nextWriterId();
    host.synchronizer.register(this);
    link.listen(
      (message) => this.#receive(message),
      () => this.close(),
    );
    this.#post({
      t: "hello",
      version: WRITER_PORT_VERSION,
      senderId: this.id,
      dir: host.dir,
      config: host.config,
    });
  }

  #post(message: ToWriter): void {
    if (!this.#closed) this.#link.post(message);
  }

  #receive(message: ToSpool): void {
    if (this.#closed) return;
    if (!isMessage(message)) {
      // Not this protocol: the peer is cut off (its pending requests fail on its side).
      this.close();
      return;
    }
    if (message.t === "confirmed") {
      const confirm = this.#confirmations.get(message.batchId);
      this.#confirmations.delete(message.batchId);
      confirm?.();
      return;
    }
    // One pass: each request's shape, then its values. The writer on the other side checks its
    // appends; a peer that does not is answered here, per request, with the errors `append`
    // gives, so nothing it sends reaches the synchronizer unchecked.
    const group: WriteRequest[] = [];
    const { recordPayloadByteSizeMax } = this.#host.config;
    for (const incoming of message.requests as readonly unknown[]) {
      const remoteId = requestIdOf(incoming);
      if (remoteId === undefined) {
        // Not this protocol: the peer is cut off and none of this message is taken (its
        // pending requests fail on its side).
        for (const request of group) this.#remoteIds.delete(request.id);
        this.close();
        return;
      }
      const { payload, durability } = incoming as { payload?: unknown; durability?: unknown };
      const checked = checkRequest(payload, durability, recordPayloadByteSizeMax);
      if ("refusal" in checked) {
        this.#postFailed([remoteId], checked.refusal);
        continue;
      }
      const id = this.#host.nextRequestId();
      this.#remoteIds.set(id, remoteId);
      group.push({
        id: id as RequestId,
        writerId: this.id,
        senderId: this.id,
        payload: checked.bytes,
        durability: checked.durability,
        target: undefined,
      });
    }
    if (group.length === 0) return;
    this.#groups.push(group);
    this.#handOver();
  }

  /**
   * Claim 34 on the remote writer's behalf: take the spool's lock, send the oldest group, and
   * on the synchronizer's receipt release the lock, pass the receipt on and go on with the next.
   */
  #handOver(): void {
    if (this.#handing || this.#groups.length === 0 || this.#closed) return;
    this.#handing = true;
    const { lock, synchronizer } = this.#host;
    lock.acquire(this.id, () => {
      if (this.#closed) {
        lock.release(this.id);
        return;
      }
      const requests = this.#groups.shift()!;
      // The lock is this endpoint's until the synchronizer's receipt, even if the endpoint
      // closes meanwhile: the synchronizer still holds the group and will give the receipt.
      const received = (): void => {
        lock.release(this.id);
        this.#handing = false;
        if (this.#closed) return;
        this.#post({ t: "receipt" });
        this.#handOver();
      };
      const refusal = synchronizer.send(requests, received);
      if (refusal !== undefined) {
        received();
        this.failed(requests, refusal);
      }
    });
  }

  /** The remote ids of requests the synchronizer is done with, forgotten here. */
  #release(requests: readonly WriteRequest[]): number[] {
    return requests.map((request) => {
      const id = this.#remoteIds.get(request.id);
      if (id === undefined)
        throw new InvariantViolation({ message: `request ${request.id} is not this writer's` });
      this.#remoteIds.delete(request.id);
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

  /**
   * @internal The spool failed on a fault: the remote writer hears it now (an answer for no
   * request), so its next append is refused at once rather than after a round trip.
   */
  spoolFailed(failure: SpoolFailed): void {
    this.#postFailed([], failure);
  }

  #postFailed(ids: readonly number[], error: AppendError): void {
    const { _tag, ...fields } = error as AppendError & Record<string, unknown>;
    delete fields.cause;
    this.#post({ t: "failed", ids, error: { tag: _tag, fields } });
  }

  /**
   * @internal These requests will never be written. A spool that fails on a fault fails every
   * request it held, some perhaps confirmed already: those are no longer this writer's, skipped.
   */
  failed(requests: readonly WriteRequest[], error: AppendError): void {
    const ids = this.#release(requests.filter((request) => this.#remoteIds.has(request.id)));
    if (ids.length > 0) this.#postFailed(ids, error);
  }

  /**
   * The remote writer is gone (its link closed): forget it, so a batch waiting for its
   * confirmation counts it as vanished; groups not yet handed over are dropped (nobody waits
   * for them); the lock is freed if held. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#groups.length = 0;
    this.#host.synchronizer.unregister(this.id);
    // A lock held for a group the synchronizer has not receipted is released by the receipt;
    // a grant still on its way is released where it lands (see #handOver).
    for (const confirm of this.#confirmations.values()) confirm();
    this.#confirmations.clear();
    this.#link.close();
    this.#onClose?.();
  }
}

/** A writer in a worker thread or another process, connected to a spool elsewhere. */
export interface PortWriter {
  /** Appends one record; resolves once it is durable, as `Writer.append` does. */
  append(payload: Payload, options?: AppendOptions): Promise<AppendResult>;
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
  return connectLink(portLink<ToWriter, ToSpool>(port), (reason, dir) =>
    reason === "closed"
      ? new SpoolClosed({ dir })
      : new SpoolUnreachable({ dir, reason: "the port to the spool's thread closed" }),
  );
}

/**
 * A writer over any link to a spool: waits for `hello`, then runs a SenderRuntime whose
 * synchronizer is the link. `lost` names the error pending appends fail with when the link
 * goes down ("closed": this side closed it).
 */
export function connectLink(
  link: Link<ToWriter, ToSpool>,
  lost: (reason: "closed" | "lost", dir: string) => AppendError,
): Promise<PortWriter> {
  return new Promise((resolve, reject) => {
    let remote: RemoteSynchronizer | undefined;
    let closedByUs = false;
    link.listen(
      (message) => {
        if (remote !== undefined) {
          remote.receive(message);
          return;
        }
        if (message.t !== "hello" || message.version !== WRITER_PORT_VERSION) {
          link.close();
          reject(new Error(`not a Spool writer link (version ${WRITER_PORT_VERSION} expected)`));
          return;
        }
        const { dir, config } = message;
        const id = message.senderId as WriterId;
        const synchronizer = new RemoteSynchronizer(link, dir, (reason) => lost(reason, dir));
        remote = synchronizer;
        // This side's writers share a lock of their own; the spool's lock is taken for them
        // by their endpoint (see RemoteEndpoint).
        const context = { id, dir, config, lock: inProcessLock(), synchronizer };
        const sender = new SenderRuntime(context);
        const writer = new Writer(id, `remote-${id}`, sender, dir, config);
        resolve({
          append: (payload, options) => writer.append(payload, options),
          close: () => {
            closedByUs = true;
            writer.close();
            synchronizer.lose("closed");
            link.close();
          },
        });
      },
      () => {
        if (remote === undefined) reject(new Error("the link closed before the spool said hello"));
        else remote.lose(closedByUs ? "closed" : "lost");
      },
    );
  });
}

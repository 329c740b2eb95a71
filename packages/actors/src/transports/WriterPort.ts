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
 * Between threads, claim 34 runs in shared memory: `hello` lends the thread the spool's lock
 * (its SharedArrayBuffer) and a request ring of its own (`internal/RequestRing.ts`). The
 * thread's SenderRuntime takes the shared lock itself, copies its request group into the ring
 * once (no structured clone), takes the ring's acceptance as its receipt and releases the
 * lock; the spool's side drains the ring into the synchronizer, woken by `Atomics.waitAsync`
 * on the ring's tail rather than by a message per group. Write confirmations, resends and
 * failures still travel on the link.
 *
 * Over a link alone (a process's socket, or a port opened with `sharedMemory: false`) the
 * endpoint takes the lock on the writer's behalf, and receipts are pipelined with credit: the
 * remote side counts a group as received once it is on the link, while fewer than
 * {@link RECEIPT_WINDOW} groups wait for the spool's receipt, and holds its lock otherwise. A
 * round trip per group would cap a thread at one group per round trip (measured: 8 threads
 * reached a quarter of the in-process rate); the window keeps the spool's intake bounded all
 * the same, because the spool receipts a group only when its synchronizer took it.
 *
 * Protocol (version 1), one message each:
 * - spool → writer: `hello` {version, senderId, dir, config, shared?: {lock, ring}} first; then
 *   `receipt` {}, `written` {batchId, ids, seqs, level}, `resend` {ids}, `failed` {ids, error}.
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
import { checkRequest, isMessage, requestIdOf } from "../internal/PortMessages.js";
import { RemoteSynchronizer, ringCarrier } from "../internal/RemoteSynchronizer.js";
import {
  type ReadRequest,
  RequestRingReader,
  RequestRingWriter,
  RingCorrupt,
} from "../internal/RequestRing.js";
import type { Synchronizer, WriterEndpoint, WrittenNotice } from "../synchronizer/Synchronizer.js";
import { inProcessLock } from "../writers/SharedLock.js";
import { SharedMemoryLock } from "../writers/SharedMemoryLock.js";
import { type AppendOptions, type AppendResult, SenderRuntime, Writer } from "../writers/Writer.js";

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
      /** Between threads: the spool's lock and this writer's request ring, to use directly. */
      readonly shared?: SharedWriterMemory;
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

/** What a writer thread shares with the spool's thread. */
export interface SharedWriterMemory {
  /** Claim 34's lock (a {@link SharedMemoryLock}'s buffer). */
  readonly lock: SharedArrayBuffer;
  /** The thread's request ring (see `internal/RequestRing.ts`). */
  readonly ring: SharedArrayBuffer;
}

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
  /** The writer thread's request ring, when it shares memory with this thread. */
  readonly #ring: RequestRingReader | undefined;
  /**
   * Whom this endpoint takes the lock as for a group sent on the link: the writer's id, or,
   * when the writer thread takes the lock itself under that id, an id of the endpoint's own.
   */
  readonly #lockOwner: WriterId;

  constructor(
    host: PortHost,
    link: Link<ToSpool, ToWriter>,
    onClose?: () => void,
    ring?: SharedArrayBuffer,
  ) {
    this.#host = host;
    this.#link = link;
    this.#onClose = onClose;
    this.id = host.nextWriterId();
    host.synchronizer.register(this);
    link.listen(
      (message) => this.#receive(message),
      () => this.close(),
    );
    const { recordPayloadByteSizeMax } = host.config;
    this.#ring =
      ring === undefined ? undefined : new RequestRingReader(ring, recordPayloadByteSizeMax);
    this.#lockOwner = ring === undefined ? this.id : host.nextWriterId();
    this.#post({
      t: "hello",
      version: WRITER_PORT_VERSION,
      senderId: this.id,
      dir: host.dir,
      config: host.config,
      ...(ring === undefined ? {} : { shared: { lock: host.lock.buffer, ring } }),
    });
    if (this.#ring !== undefined) this.#watchRing(this.#ring);
  }

  /**
   * Drains the ring, then waits for its tail to move: `Atomics.waitAsync` wakes this thread
   * once per burst of groups, not once per group (a group published while this thread drains
   * is taken in the same drain). A tail that moved before the wait began is drained on the
   * next turn of the event loop, so a thread that publishes without pause cannot starve it.
   */
  #watchRing(ring: RequestRingReader): void {
    if (this.#closed) return;
    try {
      ring.read(this.#takeRingGroup);
    } catch (error) {
      // Not this protocol: the peer is cut off (its pending requests fail on its side).
      if (!(error instanceof RingCorrupt)) throw error;
      this.close();
      return;
    }
    const wait = Atomics.waitAsync(ring.words, 0, ring.tail);
    if (!wait.async) setImmediate(() => this.#watchRing(ring));
    else void wait.value.then(() => this.#watchRing(ring));
  }

  /** A group from the ring, checked as a sent one is, straight into the synchronizer's intake. */
  readonly #takeRingGroup = (requests: readonly ReadRequest[]): void => {
    if (this.#closed) return;
    const group: WriteRequest[] = [];
    for (const { id: remoteId, payload, durability } of requests) {
      this.#addChecked(group, remoteId, payload, durability);
    }
    if (group.length === 0) return;
    const refusal = this.#host.synchronizer.deliver(group);
    if (refusal !== undefined) this.failed(group, refusal);
  };

  /** Checks a remote request as `append` would: into `group`, or its refusal to the peer. */
  #addChecked(
    group: WriteRequest[],
    remoteId: number,
    payload: unknown,
    durability: unknown,
  ): void {
    const checked = checkRequest(payload, durability, this.#host.config.recordPayloadByteSizeMax);
    if ("refusal" in checked) {
      this.#postFailed([remoteId], checked.refusal);
      return;
    }
    group.push(this.#request(remoteId, checked.bytes, checked.durability));
  }

  /** A remote writer's request under a spool-wide id. */
  #request(remoteId: number, payload: Uint8Array, durability: Durability): WriteRequest {
    const id = this.#host.nextRequestId();
    this.#remoteIds.set(id, remoteId);
    return {
      id: id as RequestId,
      writerId: this.id,
      senderId: this.id,
      payload,
      durability,
      target: undefined,
    };
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
      this.#addChecked(group, remoteId, payload, durability);
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
    const owner = this.#lockOwner;
    lock.acquire(owner, () => {
      if (this.#closed) {
        lock.release(owner);
        return;
      }
      const requests = this.#groups.shift()!;
      // The lock is this endpoint's until the synchronizer's receipt, even if the endpoint
      // closes meanwhile: the synchronizer still holds the group and will give the receipt.
      const received = (): void => {
        lock.release(owner);
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
    if (this.#ring !== undefined) {
      // A thread that died holding the lock (between taking it and its ring's receipt) would
      // stall every writer: its endpoint frees it, unless the endpoint holds it for a send.
      this.#host.lock.releaseIfHeldBy(this.id);
      // Wakes this thread's wait on the ring, which then ends.
      Atomics.notify(this.#ring.words, 0);
    }
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
        const { dir, config, shared } = message;
        const id = message.senderId as WriterId;
        // Between threads this side's writers take the spool's lock themselves and put their
        // groups in the ring; over a link alone they share a lock of their own, and the
        // spool's lock is taken for them by their endpoint (see RemoteEndpoint).
        const carrier =
          shared === undefined ? undefined : ringCarrier(new RequestRingWriter(shared.ring));
        const synchronizer = new RemoteSynchronizer(
          link,
          dir,
          (reason) => lost(reason, dir),
          carrier,
        );
        remote = synchronizer;
        const lock = shared === undefined ? inProcessLock() : new SharedMemoryLock(shared.lock);
        const context = { id, dir, config, lock, synchronizer };
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

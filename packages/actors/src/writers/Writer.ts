/**
 * Writers. A {@link Writer} is the handle an application appends through; the
 * {@link SenderRuntime} is claim 34's writer for the thread (one per thread or process): it runs
 * the {@link writerMachine} and carries each microtask's appends, from every handle on the
 * thread, through the shared lock to the synchronizer as one request group. The machine's
 * context holds the groups waiting for the lock and the one being sent; the runtime holds only
 * the appends of the current microtask, and supplies the machine's effects.
 */
import {
  type AppendError,
  type Durability,
  InvalidArgument,
  InvalidPayload,
  InvariantViolation,
  type Payload,
  payloadBytes,
  type RequestId,
  type Seq,
  SpoolClosed,
  type SpoolConfig,
  type SpoolFailed,
  type SpoolFull,
  SpoolOverloaded,
  type WriteRequest,
  type WriterId,
  type WriteTarget,
} from "@spool/core";
import { type Actor, createActor } from "xstate";
import { appendDurability, checkPayloadSize } from "../internal/Arguments.js";
import { type WriterContext, type WriterGroup, writerMachine } from "../machines/WriterMachine.js";
import { describeFault } from "../spool/SpoolFailure.js";
import type {
  SynchronizerPort,
  WriterEndpoint,
  WrittenNotice,
} from "../synchronizer/Synchronizer.js";
import type { SharedLock } from "./SharedLock.js";

/**
 * What an acknowledged append guarantees: `flushed` (on this host's stable storage) or `async`
 * (written, flush scheduled) for a spool on disk; `replicated` for one on a replicated log
 * (`@spool/jetstream`), with how many of its servers held the record at least when it was
 * acknowledged.
 *
 * @example const { seq, durability } = await writer.append("hi")
 */
export type AppendResult =
  | {
      /** The record's sequence number. */
      readonly seq: Seq;
      readonly durability: Durability;
    }
  | {
      /** The record's sequence number in the log. */
      readonly seq: Seq;
      readonly durability: "replicated";
      /** How many of the log's servers held the record at least (a quorum of its replicas). */
      readonly replicas: number;
    };

/** Per-append options. @example { durability: "async" } */
export interface AppendOptions {
  /** The level the confirmation must reach: `"flushed"` (the default) or `"async"`. */
  readonly durability?: Durability;
}

/**
 * A request with its caller's promise callbacks: one object per append, handed to the
 * synchronizer as the plain {@link WriteRequest} it also is.
 */
interface Pending extends WriteRequest {
  readonly sender: SenderRuntime;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: AppendError) => void;
  resends: number;
  /** Received by the synchronizer; not yet confirmed written, failed, or handed back to resend. */
  awaitingWrite: boolean;
}

/** What a sender needs from its spool. */
export interface SenderContext {
  readonly id: WriterId;
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly lock: SharedLock;
  readonly synchronizer: SynchronizerPort;
}

/**
 * Claim 34's writer for one thread: the endpoint the synchronizer confirms to.
 *
 * @example
 * const sender = new SenderRuntime({ id, dir, config, lock, synchronizer });
 */
export class SenderRuntime implements WriterEndpoint {
  readonly id: WriterId;
  readonly #context: SenderContext;
  readonly #actor: Actor<typeof writerMachine>;
  /** Appends made since the last microtask: the next request group. */
  #outbox: Pending[] = [];
  #outboxScheduled = false;
  #nextRequestId = 1;

  constructor(context: SenderContext) {
    this.id = context.id;
    this.#context = context;
    // An effect that throws is a fault that fails the spool, and leaves the machine running:
    // its groups still go through the lock and are refused with the failure. (A machine whose
    // transition threw is stopped by xstate; its subscriber hears of it.)
    const logic = writerMachine.provide({
      actions: {
        acquireLock: ({ context: held }) =>
          this.#guard("lock.acquire", held, () => context.lock.acquire(this.id, this.#granted)),
        sendGroup: ({ context: held }, { group }) =>
          this.#guard("sync.request", held, () => this.#send(group as readonly Pending[])),
        releaseLock: ({ context: held }) =>
          this.#guard("lock.release", held, () => context.lock.release(this.id)),
        confirmWritten: ({ context: held }, { confirm }) =>
          this.#guard("writer.confirmed", held, confirm),
      },
    });
    this.#actor = createActor(logic);
    this.#actor.subscribe({
      error: (error) => this.#fault("the writer machine", this.#actor.getSnapshot().context, error),
    });
    this.#actor.start();
    context.synchronizer.register(this);
  }

  readonly #granted = (): void => {
    // After a fault the group is still sent, and refused with the failure; only a writer
    // machine that died gives the lock back unused.
    if (this.#actor.getSnapshot().status === "active") {
      this.#actor.send({ type: "lock.granted" });
    } else if (this.#context.lock.holder === this.id) {
      this.#context.lock.release(this.id);
    }
  };

  /** Runs one effect; `held` is the machine's context as the effect sees it. */
  #guard(effect: string, held: WriterContext, body: () => void): void {
    try {
      body();
    } catch (error) {
      this.#fault(`the writer's ${effect}`, held, error);
    }
  }

  #fault(where: string, held: WriterContext, error: unknown): void {
    const failure = this.#context.synchronizer.fail(describeFault(where, error), error);
    this.#failAll(failure, held);
  }

  /** The fault that stopped the spool (or this remote writer), if one did. */
  failure(): SpoolFailed | undefined {
    return this.#context.synchronizer.failure();
  }

  /**
   * This sender faulted: every append it has not handed to the synchronizer (gathering,
   * waiting for the lock, being sent) fails with `failure`, and the lock is freed if it holds
   * it. The synchronizer fails the ones it holds. (When the synchronizer faults instead, this
   * sender's machine is sound: its groups go on through the lock and are refused.) `held` is
   * the machine's context: its groups are rejected where they are, and if the machine goes on,
   * it sends them to be refused (a second rejection is a no-op).
   */
  #failAll(failure: SpoolFailed, held: WriterContext): void {
    const unsent: WriterGroup[] = [this.#outbox, ...held.waiting];
    if (held.sending !== undefined) unsent.push(held.sending);
    this.#outbox = [];
    for (const group of unsent) for (const pending of group as Pending[]) pending.reject(failure);
    if (this.#context.lock.holder === this.id) this.#context.lock.release(this.id);
  }

  /**
   * Queues one append for the next request group. It does not look for a fault itself: its
   * callers' appends are refused with the fault per group, when the group leaves the outbox
   * (`#sendOutbox`) or, if the fault comes while it waits for the lock, by the synchronizer's
   * `send`; `Writer.append` also looks first, so a refused append reserves no disk budget.
   */
  append(
    writerId: WriterId,
    payload: Uint8Array,
    durability: Durability,
    target?: WriteTarget,
  ): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.#outbox.push({
        id: this.#nextRequestId++ as RequestId,
        writerId,
        senderId: this.id,
        payload,
        durability,
        // Always present, so every request has one shape.
        target,
        sender: this,
        resolve,
        reject,
        resends: 0,
        awaitingWrite: false,
      });
      if (!this.#outboxScheduled) {
        this.#outboxScheduled = true;
        queueMicrotask(this.#sendOutbox);
      }
    });
  }

  /** Sends the appends gathered so far now rather than at the next microtask (used by close). */
  flushOutbox(): void {
    this.#sendOutbox();
  }

  readonly #sendOutbox = (): void => {
    this.#outboxScheduled = false;
    const group = this.#outbox;
    this.#outbox = [];
    if (group.length === 0) return;
    const failure = this.failure();
    if (failure !== undefined) {
      for (const pending of group) pending.reject(failure);
      return;
    }
    // Claim 34 with the lock free, the common case: taken as the group arrives, so the machine
    // sends it at once. Tried only while the writer is idle (no group on its way or waiting).
    const snapshot = this.#actor.getSnapshot();
    let lockTaken = false;
    if (snapshot.value === "idle" && snapshot.status === "active") {
      try {
        lockTaken = this.#context.lock.tryAcquire(this.id);
      } catch (error) {
        // The group never reached the machine: it is failed with the ones the machine holds.
        this.#fault("the writer's lock.acquire", { ...snapshot.context, sending: group }, error);
        return;
      }
    }
    this.#actor.send({ type: "writer.append", group, lockTaken });
  };

  /** The machine's `sendGroup`: the group goes to the synchronizer while the lock is held. */
  #send(group: readonly Pending[]): void {
    const refusal = this.#context.synchronizer.send(group, () => this.#receipt(group));
    if (refusal !== undefined) {
      this.#receipt(group);
      this.failed(group, refusal);
    }
  }

  #receipt(group: readonly Pending[]): void {
    for (const pending of group) pending.awaitingWrite = true;
    this.#actor.send({ type: "sync.receipt", group });
  }

  /**
   * One of this sender's requests that the synchronizer holds: the synchronizer hands back the
   * very objects it was sent.
   */
  #awaiting(request: WriteRequest): Pending | undefined {
    const pending = request as Partial<Pending>;
    return pending.sender === this && pending.awaitingWrite === true
      ? (request as Pending)
      : undefined;
  }

  /** @internal The synchronizer's write confirmation (claims 1, 34). */
  written(notice: WrittenNotice, confirm: () => void): void {
    const { writes, level, replicas } = notice;
    for (const write of writes) {
      const pending = this.#awaiting(write.request);
      if (pending === undefined)
        throw new InvariantViolation({
          message: `confirmation for unknown request ${write.request.id}`,
        });
      pending.awaitingWrite = false;
      pending.resolve(
        replicas === null
          ? { seq: write.seq, durability: level }
          : { seq: write.seq, durability: "replicated", replicas },
      );
    }
    this.#actor.send({ type: "sync.written", count: writes.length, confirm });
  }

  /** @internal Skipped requests come back to be sent again (claim 66). */
  resend(requests: readonly WriteRequest[]): void {
    const again: Pending[] = [];
    const overloaded: WriteRequest[] = [];
    const { resendAttemptsMax } = this.#context.config;
    for (const request of requests) {
      const pending = this.#awaiting(request);
      if (pending === undefined) continue;
      pending.resends += 1;
      if (pending.resends > resendAttemptsMax) overloaded.push(request);
      else again.push(pending);
    }
    if (overloaded.length > 0) {
      this.failed(overloaded, new SpoolOverloaded({ resendAttempts: resendAttemptsMax }));
    }
    if (again.length === 0) return;
    for (const pending of again) pending.awaitingWrite = false;
    // They were sent before any group still waiting for the lock: the machine puts them first.
    this.#actor.send({ type: "sync.resend", group: again });
  }

  /** @internal These requests will never be written. */
  failed(requests: readonly WriteRequest[], error: AppendError): void {
    let count = 0;
    for (const request of requests) {
      const pending = this.#awaiting(request);
      if (pending === undefined) continue;
      pending.awaitingWrite = false;
      pending.reject(error);
      count += 1;
    }
    if (count > 0) this.#actor.send({ type: "sync.failed", count });
  }

  /** The writer actor, for inspection and tests. */
  get actor(): Actor<typeof writerMachine> {
    return this.#actor;
  }
}

/**
 * A writer handle: appends resolve once their batch reached the requested durability. Handles
 * are cheap; records carry the handle's id.
 *
 * @example
 * const writer = spool.writer("ingest");
 * const { seq } = await writer.append("hello");
 */
export class Writer {
  readonly id: WriterId;
  readonly name: string;
  readonly #sender: SenderRuntime;
  readonly #dir: string;
  readonly #payloadByteSizeMax: number;
  readonly #reserve: ((payloadByteSize: number) => SpoolFull | undefined) | undefined;
  #closed = false;

  /**
   * @internal Use `spool.writer()`. `reserve` checks the disk budget for one more record and
   * counts it; undefined when there is no budget.
   */
  constructor(
    id: WriterId,
    name: string,
    sender: SenderRuntime,
    dir: string,
    config: SpoolConfig,
    reserve?: (payloadByteSize: number) => SpoolFull | undefined,
  ) {
    this.id = id;
    this.name = name;
    this.#sender = sender;
    this.#dir = dir;
    this.#payloadByteSizeMax = config.recordPayloadByteSizeMax;
    this.#reserve = reserve;
  }

  /**
   * Appends one record; resolves once the batch holding it reached the requested durability.
   * The payload is a string (stored as UTF-8), an `ArrayBuffer`, or any `ArrayBufferView` (the
   * bytes the view shows); keep its bytes unchanged until the promise settles. Never throws:
   * anything else rejects with `InvalidPayload`, bad options with `InvalidArgument`, and only
   * this append is refused.
   *
   * @example
   * await writer.append(new Uint8Array([1, 2, 3]));
   */
  append(payload: Payload, options?: AppendOptions): Promise<AppendResult> {
    const failure = this.#sender.failure();
    if (failure !== undefined) return Promise.reject(failure);
    if (this.#closed) return Promise.reject(new SpoolClosed({ dir: this.#dir }));
    const bytes = payloadBytes(payload);
    if (bytes instanceof InvalidPayload) return Promise.reject(bytes);
    const durability = appendDurability(options);
    if (durability instanceof InvalidArgument) return Promise.reject(durability);
    const tooLarge = checkPayloadSize(bytes, this.#payloadByteSizeMax);
    if (tooLarge !== undefined) return Promise.reject(tooLarge);
    const full = this.#reserve?.(bytes.byteLength);
    if (full !== undefined) return Promise.reject(full);
    return this.#sender.append(this.id, bytes, durability);
  }

  /** Stops taking appends; appends already made still complete. Idempotent. */
  close(): void {
    this.#closed = true;
  }
}

/**
 * The in-process writer runtime: the caller-facing `append`, driven by the {@link writerLogic}
 * actor through claim 34's steps with the shared lock and the synchronizer.
 */
import {
  type AppendError,
  type Durability,
  RecordTooLarge,
  type RequestId,
  type Seq,
  SpoolClosed,
  type SpoolConfig,
  SpoolOverloaded,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import { type Actor, createActor } from "xstate";
import type { SharedLock } from "./SharedLock.js";
import type { Synchronizer, WriterEndpoint, WrittenNotice } from "./Synchronizer.js";
import { writerLogic } from "./WriterMachine.js";

/** What an acknowledged append guarantees. @example const { seq, durability } = await writer.append("hi") */
export interface AppendResult {
  /** The record's sequence number. */
  readonly seq: Seq;
  /** The level reached: `flushed` (on stable storage) or `async` (written, flush scheduled). */
  readonly durability: Durability;
}

/** Per-append options. @example { durability: "async" } */
export interface AppendOptions {
  /** The level the confirmation must reach; `flushed` by default. */
  readonly durability?: Durability;
}

interface Pending {
  readonly request: WriteRequest;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: AppendError) => void;
  resends: number;
}

/** What a writer needs from its spool. */
export interface WriterContext {
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly lock: SharedLock;
  readonly synchronizer: Synchronizer;
  readonly nextRequestId: () => RequestId;
}

const encoder = new TextEncoder();

/**
 * A writer (claim 34's thread or process): appends resolve once their batch is durable.
 *
 * @example
 * const writer = spool.writer("ingest");
 * const { seq } = await writer.append("hello");
 */
export class Writer implements WriterEndpoint {
  readonly id: WriterId;
  readonly name: string;
  readonly #context: WriterContext;
  readonly #actor: Actor<typeof writerLogic>;
  readonly #waitingForLock: Pending[] = [];
  readonly #awaitingWrite = new Map<RequestId, Pending>();
  readonly #confirmations = new Map<number, () => void>();
  #sending: Pending | undefined;
  #closed = false;

  constructor(id: WriterId, name: string, context: WriterContext) {
    this.id = id;
    this.name = name;
    this.#context = context;
    this.#actor = createActor(writerLogic);
    this.#actor.on("lock.acquire", () => {
      context.lock.acquire(this.id, () => this.#actor.send({ type: "lock.granted" }));
    });
    this.#actor.on("sync.request", () => this.#sendHead());
    this.#actor.on("lock.release", () => {
      context.lock.release(this.id);
      this.#actor.send({ type: "lock.released" });
    });
    this.#actor.on("writer.confirmed", (event) => {
      const confirm = this.#confirmations.get(event.batchId);
      this.#confirmations.delete(event.batchId);
      confirm?.();
    });
    this.#actor.start();
    context.synchronizer.register(this);
  }

  /**
   * Appends one record; resolves once the batch holding it reached the requested durability.
   *
   * @example
   * await writer.append(new Uint8Array([1, 2, 3]));
   */
  append(payload: Uint8Array | string, options: AppendOptions = {}): Promise<AppendResult> {
    const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
    const { config } = this.#context;
    if (this.#closed) return Promise.reject(new SpoolClosed({ dir: this.#context.dir }));
    if (bytes.byteLength > config.recordPayloadByteSizeMax) {
      return Promise.reject(
        new RecordTooLarge({
          payloadByteSize: bytes.byteLength,
          payloadByteSizeMax: config.recordPayloadByteSizeMax,
        }),
      );
    }
    return new Promise<AppendResult>((resolve, reject) => {
      const request: WriteRequest = {
        id: this.#context.nextRequestId(),
        writerId: this.id,
        payload: bytes,
        durability: options.durability ?? "flushed",
      };
      this.#waitingForLock.push({ request, resolve, reject, resends: 0 });
      this.#actor.send({ type: "writer.append" });
    });
  }

  /** Stops taking appends; appends already sent still complete. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#actor.send({ type: "writer.close" });
  }

  #sendHead(): void {
    const pending = this.#waitingForLock.shift();
    if (pending === undefined) throw new Error("lock granted with nothing to send");
    this.#sending = pending;
    const refusal = this.#context.synchronizer.send(pending.request, this.#receipt);
    if (refusal !== undefined) {
      this.#sending = undefined;
      this.#awaitingWrite.set(pending.request.id, pending);
      this.#actor.send({ type: "sync.receipt" });
      this.failed([pending.request], refusal);
    }
  }

  readonly #receipt = (): void => {
    const pending = this.#sending;
    if (pending === undefined) throw new Error("receipt with nothing sent");
    this.#sending = undefined;
    this.#awaitingWrite.set(pending.request.id, pending);
    this.#actor.send({ type: "sync.receipt" });
  };

  /** @internal The synchronizer's write confirmation (claims 1, 34). */
  written(notice: WrittenNotice, confirm: () => void): void {
    const { requestIds, seqs, level } = notice;
    for (let i = 0; i < requestIds.length; i++) {
      const pending = this.#awaitingWrite.get(requestIds[i]!);
      if (pending === undefined)
        throw new Error(`confirmation for unknown request ${requestIds[i]}`);
      this.#awaitingWrite.delete(requestIds[i]!);
      pending.resolve({ seq: seqs[i]!, durability: level });
    }
    this.#confirmations.set(notice.batchId, confirm);
    this.#actor.send({ type: "sync.written", batchId: notice.batchId, count: requestIds.length });
  }

  /** @internal Skipped requests come back to be sent again (claim 66). */
  resend(requests: readonly WriteRequest[]): void {
    const again: Pending[] = [];
    const overloaded: WriteRequest[] = [];
    for (const request of requests) {
      const pending = this.#awaitingWrite.get(request.id);
      if (pending === undefined) continue;
      pending.resends += 1;
      if (pending.resends > this.#context.config.resendAttemptsMax) overloaded.push(request);
      else {
        this.#awaitingWrite.delete(request.id);
        again.push(pending);
      }
    }
    if (overloaded.length > 0) {
      this.failed(
        overloaded,
        new SpoolOverloaded({ resendAttempts: this.#context.config.resendAttemptsMax }),
      );
    }
    if (again.length === 0) return;
    // They were sent before anything still waiting for the lock: they go first.
    this.#waitingForLock.unshift(...again);
    this.#actor.send({ type: "sync.resend", count: again.length });
  }

  /** @internal These requests will never be written. */
  failed(requests: readonly WriteRequest[], error: AppendError): void {
    let count = 0;
    for (const request of requests) {
      const pending = this.#awaitingWrite.get(request.id);
      if (pending === undefined) continue;
      this.#awaitingWrite.delete(request.id);
      pending.reject(error);
      count += 1;
    }
    if (count > 0) this.#actor.send({ type: "sync.failed", count });
  }
}

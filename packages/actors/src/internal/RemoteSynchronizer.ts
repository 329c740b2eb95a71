/**
 * The remote writer's side of a writer port: the synchronizer as its SenderRuntime sees it,
 * carrying request groups over the link and the spool's answers back.
 */
import {
  type AppendError,
  type BatchId,
  byteOffset,
  byteSize,
  InvariantViolation,
  type PlacedWrite,
  type Seq,
  SpoolFailed,
  segmentNumber,
  type WriteRequest,
} from "@spool/core";
import type { SynchronizerPort, WriterEndpoint } from "../Synchronizer.js";
import { type Link, RECEIPT_WINDOW, type ToSpool, type ToWriter } from "../WriterPort.js";
import { reviveError } from "./PortMessages.js";

/** The remote writer's side: the synchronizer, as far as its SenderRuntime can tell. */
export class RemoteSynchronizer implements SynchronizerPort {
  #endpoint: WriterEndpoint | undefined;
  readonly #link: Link<ToWriter, ToSpool>;
  /** Groups on the link the spool has not receipted yet. */
  #unreceipted = 0;
  /** The receipt of a group sent past the window, given when the spool receipts one. */
  #deferredReceipt: (() => void) | undefined;
  /** Requests the spool holds, by this side's id. */
  readonly #held = new Map<number, WriteRequest>();
  #gone: AppendError | undefined;
  readonly #lost: (reason: "closed" | "lost") => AppendError;
  readonly #dir: string;

  constructor(
    link: Link<ToWriter, ToSpool>,
    dir: string,
    lost: (reason: "closed" | "lost") => AppendError,
  ) {
    this.#link = link;
    this.#dir = dir;
    this.#lost = lost;
  }

  /**
   * This side's writer faulted: the requests the spool holds for it fail with the fault, later
   * sends are refused with it, and the link closes (the spool forgets this writer).
   */
  fail(reason: string, cause: unknown): SpoolFailed {
    if (this.#gone instanceof SpoolFailed) return this.#gone;
    const failure = new SpoolFailed({ dir: this.#dir, reason, cause });
    this.#lose(failure);
    this.#link.close();
    return failure;
  }

  failure(): SpoolFailed | undefined {
    return this.#gone instanceof SpoolFailed ? this.#gone : undefined;
  }

  register(endpoint: WriterEndpoint): void {
    this.#endpoint = endpoint;
  }

  send(requests: readonly WriteRequest[], receipt: () => void): AppendError | undefined {
    if (this.#gone !== undefined) return this.#gone;
    for (const request of requests) this.#held.set(request.id, request);
    const outgoing = requests.map((request) => ({
      id: request.id,
      payload: request.payload,
      durability: request.durability,
    }));
    this.#link.post({ t: "send", requests: outgoing });
    this.#unreceipted += 1;
    if (this.#unreceipted <= RECEIPT_WINDOW) receipt();
    else this.#deferredReceipt = receipt;
    return undefined;
  }

  #take(ids: readonly number[]): WriteRequest[] {
    return ids.map((id) => {
      const request = this.#held.get(id);
      if (request === undefined) {
        throw new InvariantViolation({ message: `the spool answered for unknown request ${id}` });
      }
      this.#held.delete(id);
      return request;
    });
  }

  /** Delivery from the link; `hello` was taken before this side existed. */
  receive(message: ToWriter): void {
    const endpoint = this.#endpoint!;
    switch (message.t) {
      case "hello":
        return;
      case "receipt": {
        this.#unreceipted -= 1;
        const receipt = this.#deferredReceipt;
        this.#deferredReceipt = undefined;
        receipt?.();
        return;
      }
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
          if (this.#gone === undefined) {
            this.#link.post({ t: "confirmed", batchId: message.batchId });
          }
        });
        return;
      }
      case "resend":
        endpoint.resend(this.#take(message.ids));
        return;
      case "failed": {
        const error = reviveError(message.error);
        // The spool stopped on a fault: later appends here are refused with it at once.
        if (error instanceof SpoolFailed && this.#gone === undefined) this.#gone = error;
        endpoint.failed(this.#take(message.ids), error);
        return;
      }
    }
  }

  /**
   * The link is down: every request the spool held fails (with SpoolClosed when this side
   * closed it, the link's own error otherwise), and later sends are refused.
   */
  lose(reason: "closed" | "lost"): void {
    this.#lose(this.#gone ?? this.#lost(reason));
  }

  /** Fails what the spool holds with the first error this side was given; idempotent. */
  #lose(error: AppendError): void {
    this.#gone ??= error;
    const held = [...this.#held.values()];
    this.#held.clear();
    const receipt = this.#deferredReceipt;
    this.#deferredReceipt = undefined;
    receipt?.();
    if (held.length > 0) this.#endpoint?.failed(held, this.#gone);
  }
}

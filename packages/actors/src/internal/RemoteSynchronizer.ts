/**
 * The remote writer's side of a writer port: the synchronizer as its SenderRuntime sees it,
 * carrying request groups to the spool (over the link, or through a request ring in shared
 * memory) and the spool's answers back over the link.
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
import type { Receipt, SynchronizerPort, WriterEndpoint } from "../synchronizer/Synchronizer.js";
import {
  type Link,
  RECEIPT_WINDOW,
  type ToSpool,
  type ToWriter,
} from "../transports/WriterPort.js";
import { reviveError } from "./PortMessages.js";
import type { RequestRingWriter } from "./RequestRing.js";

/**
 * How request groups reach the spool: `carry` calls `receipt` once the spool's intake holds
 * the group (claim 34's receipt), and `lose` gives a receipt still owed when the link is down,
 * so the lock is released.
 */
export interface GroupCarrier {
  carry(requests: readonly WriteRequest[], receipt: Receipt): void;
  /** The spool's `receipt` message arrived. */
  receipted(): void;
  lose(): void;
}

/**
 * Groups as `send` messages on the link, receipted with credit: a group counts as received
 * once on the link while fewer than {@link RECEIPT_WINDOW} wait for the spool's receipt.
 */
export function linkCarrier(link: Link<ToWriter, ToSpool>): GroupCarrier {
  let unreceipted = 0;
  let deferred: Receipt | undefined;
  return {
    carry(requests, receipt) {
      const outgoing = requests.map((request) => ({
        id: request.id,
        payload: request.payload,
        durability: request.durability,
      }));
      link.post({ t: "send", requests: outgoing });
      unreceipted += 1;
      if (unreceipted <= RECEIPT_WINDOW) receipt();
      else deferred = receipt;
    },
    receipted() {
      unreceipted -= 1;
      const receipt = deferred;
      deferred = undefined;
      receipt?.();
    },
    lose() {
      const receipt = deferred;
      deferred = undefined;
      receipt?.();
    },
  };
}

/**
 * Groups copied into the thread's request ring in shared memory: the ring taking a group is
 * its receipt (the ring is this writer's part of the spool's intake). A group that waits for
 * room when the link goes down gets its receipt then, and fails with the rest.
 */
export function ringCarrier(ring: RequestRingWriter): GroupCarrier {
  let owed: Receipt | undefined;
  return {
    carry(requests, receipt) {
      owed = receipt;
      ring.write(requests, () => {
        owed = undefined;
        receipt();
      });
    },
    receipted() {},
    lose() {
      ring.close();
      const receipt = owed;
      owed = undefined;
      receipt?.();
    },
  };
}

/** The remote writer's side: the synchronizer, as far as its SenderRuntime can tell. */
export class RemoteSynchronizer implements SynchronizerPort {
  #endpoint: WriterEndpoint | undefined;
  readonly #link: Link<ToWriter, ToSpool>;
  readonly #carrier: GroupCarrier;
  /** Requests the spool holds, by this side's id. */
  readonly #held = new Map<number, WriteRequest>();
  #gone: AppendError | undefined;
  readonly #lost: (reason: "closed" | "lost") => AppendError;
  readonly #dir: string;

  constructor(
    link: Link<ToWriter, ToSpool>,
    dir: string,
    lost: (reason: "closed" | "lost") => AppendError,
    carrier: GroupCarrier = linkCarrier(link),
  ) {
    this.#link = link;
    this.#carrier = carrier;
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
    this.#carrier.carry(requests, receipt);
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
      case "receipt":
        this.#carrier.receipted();
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
        // Threads and processes write to a spool on disk: no log's replicas to report.
        const batchId = message.batchId as BatchId;
        const notice = { batchId, writes, level: message.level, replicas: null };
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
    this.#carrier.lose();
    if (held.length > 0) this.#endpoint?.failed(held, this.#gone);
  }
}

/**
 * Every operating error a caller of Spool can meet, as tagged errors. Match on `_tag`
 * exhaustively (ts-pattern `.exhaustive()`); programmer errors are assertions instead.
 */
import { Data } from "effect";

/**
 * An option failed validation; `field` names it.
 *
 * @example
 * new ConfigInvalid({ field: "segmentByteSize", message: "must be a multiple of 4096" })
 */
export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{
  readonly field: string;
  readonly message: string;
}> {}

/**
 * A payload larger than `recordPayloadByteSizeMax` was offered to `append`.
 *
 * @example
 * new RecordTooLarge({ payloadByteSize: 9e6, payloadByteSizeMax: 8e6 })
 */
export class RecordTooLarge extends Data.TaggedError("RecordTooLarge")<{
  readonly payloadByteSize: number;
  readonly payloadByteSizeMax: number;
}> {
  override get message(): string {
    return `payload of ${this.payloadByteSize} bytes exceeds recordPayloadByteSizeMax ${this.payloadByteSizeMax}`;
  }
}

/**
 * `append` was given something that is not a payload: not a string, an `ArrayBuffer` or an
 * `ArrayBufferView` (a typed array, `Buffer` or `DataView`). Only that append is refused; the
 * spool and every other append go on.
 *
 * @example
 * new InvalidPayload({ received: "number" })
 */
export class InvalidPayload extends Data.TaggedError("InvalidPayload")<{
  readonly received: string;
}> {
  override get message(): string {
    return `append takes a string, an ArrayBuffer or an ArrayBufferView, not ${this.received}`;
  }
}

/**
 * An argument of a public call is out of its domain (not finite, negative, not an integer, the
 * wrong type); `argument` names it. Options given at open are {@link ConfigInvalid} instead.
 *
 * @example
 * new InvalidArgument({ argument: "leaseMs", message: "leaseMs: must be a finite number > 0, not -1" })
 */
export class InvalidArgument extends Data.TaggedError("InvalidArgument")<{
  readonly argument: string;
  readonly message: string;
}> {}

/**
 * The spool stopped on a fault of its own (an exception inside the synchronizer, a writer or the
 * runtime, not an I/O error): every pending append got this error, and every later one gets it
 * at once. Nothing acknowledged is lost; reopen the spool to go on.
 *
 * @example
 * new SpoolFailed({ dir: "/var/spool/mms", reason: "the synchronizer threw: ...", cause: undefined })
 */
export class SpoolFailed extends Data.TaggedError("SpoolFailed")<{
  readonly dir: string;
  readonly reason: string;
  readonly cause: unknown;
}> {
  override get message(): string {
    return `the spool at ${this.dir} stopped: ${this.reason}`;
  }
}

/**
 * The spool (or this writer) was closed before the request could be accepted.
 *
 * @example
 * new SpoolClosed({ dir: "/var/spool/mms" })
 */
export class SpoolClosed extends Data.TaggedError("SpoolClosed")<{ readonly dir: string }> {}

/**
 * A remote writer lost its link to the spool (the spool's process died or closed the
 * connection, or the writer's lease expired). The append may or may not have been written:
 * it was never confirmed, so the caller sends it again (at-least-once).
 *
 * @example
 * new SpoolUnreachable({ dir: "/var/spool/mms", reason: "the connection closed" })
 */
export class SpoolUnreachable extends Data.TaggedError("SpoolUnreachable")<{
  readonly dir: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `the spool at ${this.dir} cannot be reached: ${this.reason}`;
  }
}

/**
 * Writing or flushing a batch failed. The writers of that batch get this error (never a
 * confirmation), and the spool stops taking writes: after a failed fdatasync the kernel may
 * have dropped the dirty pages, so retrying could report success for lost data (PostgreSQL's
 * "fsyncgate", 2018). Reopen the spool to recover.
 *
 * @example
 * new FlushFailed({ file: "data-0000000001.seg", offset: 0, byteSize: 4096, code: "EIO", cause: undefined })
 */
export class FlushFailed extends Data.TaggedError("FlushFailed")<{
  readonly file: string;
  readonly offset: number;
  readonly byteSize: number;
  readonly code: string;
  readonly cause: unknown;
}> {
  override get message(): string {
    return `flush of ${this.byteSize} bytes at ${this.file}:${this.offset} failed (${this.code})`;
  }
}

/**
 * A request was refused and resent `resendAttemptsMax` times because temporary storage stayed
 * full: the spool is receiving writes faster than the disk takes them.
 *
 * @example
 * new SpoolOverloaded({ resendAttempts: 1000 })
 */
export class SpoolOverloaded extends Data.TaggedError("SpoolOverloaded")<{
  readonly resendAttempts: number;
}> {}

/**
 * A file in the spool directory could not be read, created or mapped.
 *
 * @example
 * new StorageFailed({ operation: "open", file: "data-0000000001.seg", code: "ENOSPC", cause: undefined })
 */
export class StorageFailed extends Data.TaggedError("StorageFailed")<{
  readonly operation: string;
  readonly file: string;
  readonly code: string;
  readonly cause: unknown;
}> {
  override get message(): string {
    return `${this.operation} ${this.file} failed (${this.code})`;
  }
}

/**
 * A spool file has bytes that are not a valid Spool file of a version this build reads. For a
 * damaged record that is not a torn tail (valid records follow it), `seqFrom`..`seqTo` are the
 * seqs the damaged bytes held and `validRecordsAfter` counts the intact records after them;
 * nothing was changed on disk, and `spool recover --salvage` keeps every valid record.
 *
 * @example
 * new SpoolCorrupt({ file: "spool.json", offset: 0, reason: "not JSON" })
 * new SpoolCorrupt({ file: "data-0000000001.seg", offset: 4160, reason: "checksum", seqFrom: 5, seqTo: 5, validRecordsAfter: 195 })
 */
export class SpoolCorrupt extends Data.TaggedError("SpoolCorrupt")<{
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
  readonly seqFrom?: number;
  readonly seqTo?: number;
  readonly validRecordsAfter?: number;
}> {
  override get message(): string {
    const seqs =
      this.seqFrom === undefined
        ? ""
        : this.seqTo === this.seqFrom
          ? `; seq ${this.seqFrom} damaged`
          : `; seqs ${this.seqFrom}..${this.seqTo ?? "?"} damaged`;
    const after =
      this.validRecordsAfter === undefined
        ? ""
        : `, ${this.validRecordsAfter} valid records after (spool recover --salvage keeps them)`;
    return `${this.file} at byte ${this.offset}: ${this.reason}${seqs}${after}`;
  }
}

/**
 * `ack` or `nack` named a message that is not leased now: never appended, already done, or
 * not taken (a lease that expired and was taken again is still leased).
 *
 * @example
 * new NotLeased({ seq: 7, reason: "unknown" })
 */
export class NotLeased extends Data.TaggedError("NotLeased")<{
  readonly seq: number;
  readonly reason: "unknown" | "notLeased";
}> {
  override get message(): string {
    return this.reason === "unknown"
      ? `message ${this.seq} is not in the queue (never appended, or already done)`
      : `message ${this.seq} is not leased`;
  }
}

/**
 * An append would take the spool's data past its disk budget (`diskBudgetBytes`). Back-pressure:
 * consume and acknowledge messages (their segments are reclaimed), then append again.
 *
 * @example
 * new SpoolFull({ dir: "/var/spool/mms", budgetBytes: 1 << 30, neededBytes: (1 << 30) + 4096 })
 */
export class SpoolFull extends Data.TaggedError("SpoolFull")<{
  readonly dir: string;
  readonly budgetBytes: number;
  readonly neededBytes: number;
}> {
  override get message(): string {
    return `${this.dir}: appending needs ${this.neededBytes} bytes of segments, over the budget of ${this.budgetBytes}`;
  }
}

/**
 * Another spool is open on the directory: in another process (`pid`), or in this one. Two
 * synchronizers on one directory would interleave their writes.
 *
 * @example
 * new SpoolLocked({ dir: "/var/spool/mms", pid: 4242 })
 */
export class SpoolLocked extends Data.TaggedError("SpoolLocked")<{
  readonly dir: string;
  readonly pid: number;
}> {
  override get message(): string {
    return `${this.dir} is open in process ${this.pid}; close it there first`;
  }
}

/**
 * The cluster did not answer an operation in time (no quorum, no leader yet, the connection
 * down): the operation may or may not have taken effect. Only a store on a replicated log
 * (`@spool/jetstream`) raises it; it is here, with the other operating errors, so that what
 * every store's operations may fail with can be named in one place. A take that rejects with it handed
 * nothing out; an ack or nack that rejects with it may be made again.
 *
 * @example
 * new ClusterUnavailable({ operation: "ack", stream: "mms", reason: "timeout" })
 */
export class ClusterUnavailable extends Data.TaggedError("ClusterUnavailable")<{
  readonly operation: string;
  readonly stream: string;
  readonly reason: string;
  readonly cause: unknown;
}> {
  override get message(): string {
    return `${this.operation} on stream ${this.stream}: the cluster did not answer (${this.reason})`;
  }
}

/** Errors `append` can reject with. @example const e: AppendError = new SpoolClosed({ dir }) */
export type AppendError =
  | InvalidPayload
  | InvalidArgument
  | RecordTooLarge
  | SpoolFailed
  | SpoolClosed
  | FlushFailed
  | SpoolOverloaded
  | StorageFailed
  | SpoolFull
  | SpoolUnreachable;

/**
 * Every tag an {@link AppendError} carries; `satisfies` keeps it the whole union, no more and
 * no less. For errors that crossed a boundary as data (a port, a socket) or came back untyped.
 */
export const APPEND_ERROR_TAGS: ReadonlySet<string> = new Set(
  Object.keys({
    InvalidPayload: true,
    InvalidArgument: true,
    RecordTooLarge: true,
    SpoolFailed: true,
    SpoolClosed: true,
    FlushFailed: true,
    SpoolOverloaded: true,
    StorageFailed: true,
    SpoolFull: true,
    SpoolUnreachable: true,
  } satisfies Record<AppendError["_tag"], true>),
);

/** Whether `tag` is one an append error carries. @example isAppendErrorTag("SpoolFull") // true */
export function isAppendErrorTag(tag: string): tag is AppendError["_tag"] {
  return APPEND_ERROR_TAGS.has(tag);
}

/** Whether `value` is an append error, by its tag. @example isAppendError(new SpoolClosed({ dir })) */
export function isAppendError(value: unknown): value is AppendError {
  const tag = (value as { _tag?: unknown } | null | undefined)?._tag;
  return typeof tag === "string" && isAppendErrorTag(tag);
}

/** Errors `openSpool` can reject with. @example const e: OpenError = new SpoolCorrupt({ file, offset: 0, reason }) */
export type OpenError = ConfigInvalid | StorageFailed | SpoolCorrupt | SpoolLocked;

/** Any Spool operating error. @example const e: SpoolError = new SpoolClosed({ dir }) */
export type SpoolError = AppendError | OpenError | NotLeased | InvalidArgument | ClusterUnavailable;

/**
 * The errno code of a Node.js system error, or "UNKNOWN".
 *
 * @example
 * errorCode(Object.assign(new Error("x"), { code: "EIO" })) // "EIO"
 */
export function errorCode(cause: unknown): string {
  if (typeof cause === "object" && cause !== null && "code" in cause) {
    const code = (cause as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return "UNKNOWN";
}

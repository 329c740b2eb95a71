/**
 * What crosses a writer port, checked and revived: a peer's messages are checked before anything
 * of theirs reaches the synchronizer (a peer is another thread, and may send anything), and a
 * typed append error that crossed as its tag and fields is rebuilt on the writer's side.
 */
import {
  type AppendError,
  type Durability,
  FlushFailed,
  InvalidArgument,
  InvalidPayload,
  isAppendErrorTag,
  payloadBytes,
  RecordTooLarge,
  SpoolClosed,
  SpoolFailed,
  SpoolFull,
  SpoolOverloaded,
  SpoolUnreachable,
  StorageFailed,
} from "@spool/core";
import { match } from "ts-pattern";
import type { ToSpool } from "../transports/WriterPort.js";
import { checkDurability, checkPayloadSize } from "./Arguments.js";

/**
 * Whether a peer's message has the outer shape of {@link ToSpool}; each request's shape is
 * checked with its values, in the one pass over them.
 */
export function isMessage(message: unknown): message is ToSpool {
  if (typeof message !== "object" || message === null) return false;
  const { t, requests } = message as { t?: unknown; requests?: unknown };
  return t === "confirmed" || (t === "send" && Array.isArray(requests));
}

/** A peer's request once checked: its bytes and durability, or why it is refused. */
export type CheckedRequest =
  | { readonly bytes: Uint8Array; readonly durability: Durability }
  | { readonly refusal: AppendError };

/** A peer's request checked as `Writer.append` checks an append, with the same errors. */
export function checkRequest(
  payload: unknown,
  durability: unknown,
  payloadByteSizeMax: number,
): CheckedRequest {
  const bytes = payloadBytes(payload);
  if (bytes instanceof InvalidPayload) return { refusal: bytes };
  const level = checkDurability(durability);
  if (level instanceof InvalidArgument) return { refusal: level };
  const tooLarge = checkPayloadSize(bytes, payloadByteSizeMax);
  return tooLarge === undefined ? { bytes, durability: level } : { refusal: tooLarge };
}

/** A request's id, if it is a request (an object with a numeric id). */
export function requestIdOf(request: unknown): number | undefined {
  if (typeof request !== "object" || request === null) return undefined;
  const { id } = request as { id?: unknown };
  return typeof id === "number" ? id : undefined;
}

/**
 * Rebuilds a typed append error that crossed the port as its tag and fields. A tag no append
 * error carries (a spool of another version) leaves the append unconfirmed: `SpoolUnreachable`,
 * which tells the caller to send it again, never a confirmation or a silent close.
 */
export function reviveError(error: { tag: string; fields: Record<string, unknown> }): AppendError {
  const f = error.fields as never;
  const withoutCause = { ...(error.fields as object), cause: undefined } as never;
  const { tag } = error;
  if (!isAppendErrorTag(tag)) {
    const dir = typeof error.fields.dir === "string" ? error.fields.dir : "";
    return new SpoolUnreachable({
      dir,
      reason: `the spool answered with an unknown error: ${tag}`,
    });
  }
  return match(tag)
    .returnType<AppendError>()
    .with("FlushFailed", () => new FlushFailed(withoutCause))
    .with("StorageFailed", () => new StorageFailed(withoutCause))
    .with("SpoolFailed", () => new SpoolFailed(withoutCause))
    .with("RecordTooLarge", () => new RecordTooLarge(f))
    .with("SpoolOverloaded", () => new SpoolOverloaded(f))
    .with("SpoolFull", () => new SpoolFull(f))
    .with("SpoolUnreachable", () => new SpoolUnreachable(f))
    .with("SpoolClosed", () => new SpoolClosed(f))
    .with("InvalidPayload", () => new InvalidPayload(f))
    .with("InvalidArgument", () => new InvalidArgument(f))
    .exhaustive();
}

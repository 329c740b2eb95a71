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
  payloadBytes,
  RecordTooLarge,
  SpoolClosed,
  SpoolFailed,
  SpoolFull,
  SpoolOverloaded,
  SpoolUnreachable,
  StorageFailed,
} from "@spool/core";
import type { ToSpool } from "../WriterPort.js";
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

/** Rebuilds a typed append error that crossed the port as its tag and fields. */
export function reviveError(error: { tag: string; fields: Record<string, unknown> }): AppendError {
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
    case "SpoolUnreachable":
      return new SpoolUnreachable(f);
    case "SpoolFailed":
      return new SpoolFailed({ ...(f as object), cause: undefined } as never);
    case "InvalidPayload":
      return new InvalidPayload(f);
    case "InvalidArgument":
      return new InvalidArgument(f);
    default:
      return new SpoolClosed(f);
  }
}

/**
 * A submission's work after authentication: parse the body and the SubmitReq, check them
 * against the limits and the VASP, encode the record, and append it durably. The same code runs
 * in the HTTP thread or in a handler thread (`HandlerThreads.ts`); only `append` differs.
 */
import { type AppendError, type AppendResult, isAppendError } from "@spool/actors";
import { match, P } from "ts-pattern";
import { expiryDateMs } from "./Expiry.js";
import type { GatewayLimits } from "./Limits.js";
import { LimitExceeded } from "./Limits.js";
import { BodyInvalid, contentParts, parseSubmissionBody } from "./Mime.js";
import { DEFAULT_MM7_NAMESPACE, Mm7Fault, parseSubmitRequest, STATUS } from "./Mm7.js";
import { encodeStoredMessage } from "./StoredMessage.js";

/** A stored message: its seq, and what the SubmitRsp echoes. */
export interface Accepted {
  readonly seq: number;
  readonly namespace: string;
  readonly transactionId: string;
  /** From the append to its durable acknowledgement. */
  readonly durableMs: number;
}

/** A refused submission: the fault, and what of the request it can echo. */
export class Refused extends Error {
  readonly fault: Mm7Fault;
  readonly namespace: string;
  readonly transactionId: string;

  constructor(fault: Mm7Fault, namespace = DEFAULT_MM7_NAMESPACE, transactionId = "") {
    super(fault.message);
    this.fault = fault;
    this.namespace = namespace;
    this.transactionId = transactionId;
  }
}

export interface SubmissionInput {
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
  /** The authenticated VASP. */
  readonly vaspId: string;
}

/** Stores a submission durably, or throws {@link Refused}. */
export async function acceptSubmission(
  input: SubmissionInput,
  limits: GatewayLimits,
  append: (record: Uint8Array) => Promise<AppendResult>,
): Promise<Accepted> {
  let namespace = DEFAULT_MM7_NAMESPACE;
  let transactionId = "";
  try {
    const body = parseSubmissionBody(input.contentType, input.body, limits);
    const request = parseSubmitRequest(body.soapXml, limits.recipientCountMax);
    namespace = request.namespace;
    transactionId = request.transactionId;
    if (request.vaspId !== null && request.vaspId !== input.vaspId) {
      throw new Mm7Fault(
        STATUS.improperIdentification,
        `VASPID ${request.vaspId} is not the authenticated VASP ${input.vaspId}`,
      );
    }
    const receivedAtMs = Date.now();
    const expiresAtMs =
      request.expiryDate === null ? null : expiryDateMs(request.expiryDate, receivedAtMs);
    const record = encodeStoredMessage({
      vaspId: input.vaspId,
      vasId: request.vasId,
      senderAddress: request.senderAddress,
      recipients: request.recipients,
      subject: request.subject,
      deliveryReport: request.deliveryReport,
      transactionId,
      namespace,
      receivedAtMs,
      expiresAtMs,
      priority: request.priority,
      linkedId: request.linkedId,
      parts: contentParts(body, request.contentHref, limits),
    });
    const started = performance.now();
    // Durable before the answer: a SubmitRsp is a promise the message survives a crash.
    const { seq } = await append(record);
    return { seq, namespace, transactionId, durableMs: performance.now() - started };
  } catch (error) {
    throw new Refused(asFault(error), namespace, transactionId);
  }
}

/** Any failure of a submission as the refusal it answers with. */
export function asRefused(error: unknown): Refused {
  return error instanceof Refused ? error : new Refused(asFault(error));
}

function asFault(error: unknown): Mm7Fault {
  if (error instanceof Mm7Fault) return error;
  if (error instanceof LimitExceeded) {
    const code =
      error.limit === "recipientCountMax" ? STATUS.validationError : STATUS.contentRefused;
    return new Mm7Fault(code, error.message);
  }
  if (error instanceof BodyInvalid) return new Mm7Fault(STATUS.formatCorrupt, error.message);
  if (isAppendError(error)) return notStored(error);
  return internalFault(error);
}

/**
 * The spool refused or failed the append: nothing was stored, and the VASP may retry. Every
 * refusal is matched by name, so that one added to `AppendError` does not compile until it is
 * given its fault here.
 */
function notStored(error: AppendError): Mm7Fault {
  const unavailable = (refusal: AppendError) =>
    new Mm7Fault(STATUS.serviceUnavailable, `message not stored: ${refusal._tag}`, "Server");
  return (
    match(error)
      // The spool is full or busy for now: consuming or waiting makes room.
      .with({ _tag: P.union("SpoolFull", "SpoolOverloaded") }, unavailable)
      // The spool is closing, stopped or cannot write: it has to be reopened first.
      .with(
        { _tag: P.union("SpoolClosed", "SpoolFailed", "FlushFailed", "StorageFailed") },
        unavailable,
      )
      // A handler thread's writer lost its spool.
      .with({ _tag: "SpoolUnreachable" }, unavailable)
      // The record the gateway encoded was refused (too large for the spool's record limit).
      .with({ _tag: P.union("RecordTooLarge", "InvalidPayload", "InvalidArgument") }, unavailable)
      .exhaustive()
  );
}

/**
 * The fault for an error the gateway did not expect (a bug): logged in full here, answered with
 * a generic text, since its wording and stack are the gateway's internals, not the VASP's.
 */
export function internalFault(error: unknown): Mm7Fault {
  console.error("mms-gateway: a request failed unexpectedly:", error);
  return new Mm7Fault(STATUS.serverError, "internal server error", "Server");
}

/**
 * An MM7 submission's HTTP body: `multipart/related` with the SOAP envelope as its start part and
 * the message content as another part (itself often `multipart/mixed` or `multipart/related`
 * with the attachments), or a bare `text/xml` envelope for a message with no content. Parsing is
 * @remix-run/multipart-parser's, with the gateway's limits; this module finds the parts and
 * undoes their transfer encodings (`TransferEncoding.ts`). The envelope stays bytes: its text
 * encoding is XML's to find (`Xml.ts`), by its byte order mark.
 */
import {
  getMultipartBoundary,
  MaxFileSizeExceededError,
  MaxPartsExceededError,
  MaxTotalSizeExceededError,
  MultipartParseError,
  type MultipartPart,
  parseMultipart,
} from "@remix-run/multipart-parser";
import { type GatewayLimits, LimitExceeded } from "./Limits.js";
import type { ContentPart } from "./StoredMessage.js";
import { decodeTransferEncoding, TransferEncodingInvalid } from "./TransferEncoding.js";

/** The body, split: the envelope and the parts beside it. */
export interface SubmissionBody {
  /** The envelope's bytes, transfer encoding undone; decoded to text by the XML reader. */
  readonly soapXml: Uint8Array;
  /** Parts other than the envelope, in order (their headers as sent). */
  readonly parts: readonly BodyPart[];
}

export interface BodyPart {
  readonly contentType: string;
  /** Without angle brackets. */
  readonly contentId: string | null;
  /** What the part stands for: its Content-Transfer-Encoding is undone, and not kept. */
  readonly bytes: Uint8Array;
}

/** The body is not MIME the gateway can read; the fault says why. */
export class BodyInvalid extends Error {}

/** How deep multipart content may nest: the message, and its content's parts. */
const NESTING_DEPTH_MAX = 2;

/** Splits a submission's body per its Content-Type. */
export function parseSubmissionBody(
  contentType: string | undefined,
  body: Uint8Array,
  limits: GatewayLimits,
): SubmissionBody {
  const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType === "application/soap+xml") {
    // SOAP 1.2's media type (RFC 3902): a SOAP 1.2 client would take this gateway's SOAP 1.1
    // answers for its own, so it is told instead.
    throw new BodyInvalid(
      "Content-Type application/soap+xml is SOAP 1.2: MM7 is SOAP 1.1 (text/xml)",
    );
  }
  if (mediaType === "text/xml") {
    if (body.byteLength > limits.soapByteSizeMax) {
      throw new LimitExceeded("soapByteSizeMax", limits.soapByteSizeMax);
    }
    return { soapXml: body, parts: [] };
  }
  if (mediaType !== "multipart/related") {
    throw new BodyInvalid(
      `Content-Type ${mediaType || "(none)"}: expected multipart/related or text/xml`,
    );
  }
  const parts = splitMultipart(contentType!, body, limits, 1);
  const start = parameter(contentType!, "start");
  const startId = start === null ? null : stripBrackets(start);
  const soapIndex = startId === null ? 0 : parts.findIndex((part) => part.contentId === startId);
  if (soapIndex < 0) throw new BodyInvalid(`no part has the start Content-ID <${startId}>`);
  const soap = parts[soapIndex]!;
  if (soap.bytes.byteLength > limits.soapByteSizeMax) {
    throw new LimitExceeded("soapByteSizeMax", limits.soapByteSizeMax);
  }
  return { soapXml: soap.bytes, parts: parts.filter((_, at) => at !== soapIndex) };
}

/**
 * The message's content parts: the part the envelope's `Content href="cid:..."` names, opened
 * when it is multipart; the only part there is when the href names none (senders get cids
 * wrong, the spec's own samples among them); none for a message with no content.
 */
export function contentParts(
  body: SubmissionBody,
  href: string | null,
  limits: GatewayLimits,
): ContentPart[] {
  const cid = href === null ? null : stripBrackets(href.replace(/^cid:/i, ""));
  let content = cid === null ? undefined : body.parts.find((part) => part.contentId === cid);
  if (content === undefined && body.parts.length === 1) content = body.parts[0];
  if (content === undefined) {
    if (body.parts.length === 0) return [];
    throw new BodyInvalid(`Content href ${href ?? "(none)"} names none of the message's parts`);
  }
  const opened = /^multipart\//i.test(content.contentType)
    ? splitMultipart(content.contentType, content.bytes, limits, 2)
    : [content];
  if (opened.length > limits.attachmentCountMax) {
    throw new LimitExceeded("attachmentCountMax", limits.attachmentCountMax);
  }
  return opened.map(({ contentType, contentId, bytes }) => ({ contentType, contentId, bytes }));
}

function splitMultipart(
  contentType: string,
  body: Uint8Array,
  limits: GatewayLimits,
  depth: number,
): BodyPart[] {
  if (depth > NESTING_DEPTH_MAX) throw new BodyInvalid("multipart nested too deep");
  const boundary = getMultipartBoundary(contentType);
  if (boundary === null) throw new BodyInvalid("multipart Content-Type without a boundary");
  // The parser wants the first boundary first; a preamble (allowed by RFC 2046) is dropped here.
  const first = Buffer.from(body.buffer, body.byteOffset, body.byteLength).indexOf(`--${boundary}`);
  if (first < 0) throw new BodyInvalid("the body holds no multipart boundary");
  try {
    const parts = [
      ...parseMultipart(body.subarray(first), {
        boundary,
        maxHeaderSize: 8 * 1024,
        maxFileSize: limits.attachmentByteSizeMax,
        // The envelope, and the attachments the limit allows (opened content has no envelope).
        maxParts: limits.attachmentCountMax + 1,
        maxTotalSize: limits.bodyByteSizeMax,
      }),
    ];
    return parts.map(decodePart);
  } catch (error) {
    throw asBodyError(error, limits);
  }
}

function decodePart(part: MultipartPart): BodyPart {
  const headers = part.headers;
  const id = headers["content-id"];
  const contentType = headers["content-type"]?.trim() || "text/plain";
  let bytes: Uint8Array;
  try {
    bytes = decodeTransferEncoding(headers["content-transfer-encoding"] ?? null, part.bytes);
  } catch (error) {
    if (!(error instanceof TransferEncodingInvalid)) throw error;
    throw new BodyInvalid(`part ${id?.trim() ?? contentType}: ${error.message}`);
  }
  return { contentType, contentId: id === undefined ? null : stripBrackets(id.trim()), bytes };
}

function asBodyError(error: unknown, limits: GatewayLimits): Error {
  if (error instanceof MaxPartsExceededError) {
    return new LimitExceeded("attachmentCountMax", limits.attachmentCountMax);
  }
  if (error instanceof MaxFileSizeExceededError) {
    return new LimitExceeded("attachmentByteSizeMax", limits.attachmentByteSizeMax);
  }
  if (error instanceof MaxTotalSizeExceededError) {
    return new LimitExceeded("bodyByteSizeMax", limits.bodyByteSizeMax);
  }
  // Header bytes that are not UTF-8 surface as a TypeError from the parser's decoder.
  if (error instanceof MultipartParseError || error instanceof TypeError) {
    return new BodyInvalid(`malformed multipart body: ${error.message}`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

function parameter(contentType: string, name: string): string | null {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]*))`, "i").exec(contentType);
  return match === null ? null : (match[1] ?? match[2] ?? null);
}

function stripBrackets(id: string): string {
  return id.replace(/^<|>$/g, "");
}

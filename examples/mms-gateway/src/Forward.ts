/**
 * One delivery attempt over HTTP: the forwarded message's body and headers (the envelope's
 * fields the recipient needs, header-safe), and what the recipient's answer means: delivered,
 * refused for good (4xx but 408 and 429), or worth another try (connection errors, timeouts,
 * 3xx (never followed), 408, 429, 5xx).
 */
import { randomBytes } from "node:crypto";
import { retryAfterMsOf } from "./Backoff.js";
import type { StoredMessage } from "./StoredMessage.js";

/** What an attempt came to. */
export type AttemptResult =
  | { readonly kind: "delivered" }
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "transient"; readonly reason: string; readonly retryAfterMs?: number };

/**
 * A forwarded text field is cut to this many characters, 1,000: OMA's MMS conformance document
 * keeps subjects to 40, and 1,000 characters encode to under 4 KiB, well inside the 16 KiB
 * that Node (and most servers) take for all of a request's headers together.
 */
const HEADER_TEXT_CHARACTERS_MAX = 1000;

/**
 * An RFC 2047 encoded-word is at most 75 characters: `=?UTF-8?B?` and `?=` leave 63 for
 * base64, which carries 45 bytes (63 rounded down to a multiple of 4 is 60, three bytes per 4).
 */
const ENCODED_WORD_BYTES_MAX = 45;

/**
 * A header value from envelope text: printable ASCII (without "=?", which would read as an
 * encoded word) as it is; anything else (non-ASCII, control characters, CR and LF) as RFC 2047
 * encoded-words of its UTF-8 (`=?UTF-8?B?...?=`, space-separated), so no control character can
 * ever reach a header and a recipient decodes it with any MIME library.
 *
 * @example headerText("Grüße") // "=?UTF-8?B?R3LDvMOfZQ==?="
 */
export function headerText(text: string): string {
  const cut = Array.from(text).slice(0, HEADER_TEXT_CHARACTERS_MAX).join("");
  if (/^[\x20-\x7e]*$/.test(cut) && !cut.includes("=?")) return cut;
  const words: string[] = [];
  let bytes: number[] = [];
  for (const character of cut) {
    const encoded = [...Buffer.from(character, "utf8")];
    // A character is never split across two words (RFC 2047 §5 (3)).
    if (bytes.length + encoded.length > ENCODED_WORD_BYTES_MAX) {
      words.push(Buffer.from(bytes).toString("base64"));
      bytes = [];
    }
    bytes.push(...encoded);
  }
  if (bytes.length > 0 || words.length === 0) words.push(Buffer.from(bytes).toString("base64"));
  return words.map((word) => `=?UTF-8?B?${word}?=`).join(" ");
}

/** The envelope's fields as forwarding headers; absent fields are left out. */
export function envelopeHeaders(message: StoredMessage): Record<string, string> {
  const fields: [string, string | null][] = [
    ["x-mms-vasp-id", message.vaspId],
    ["x-mms-vas-id", message.vasId],
    ["x-mms-from", message.senderAddress],
    ["x-mms-subject", message.subject],
    ["x-mms-transaction-id", message.transactionId],
    ["x-mms-priority", message.priority],
    ["x-mms-linked-id", message.linkedId],
  ];
  const headers: Record<string, string> = {};
  for (const [name, value] of fields) if (value !== null) headers[name] = headerText(value);
  return headers;
}

/**
 * A boundary for one forwarded body: random, and checked against every part, since a part that
 * contained it would end early at the recipient and let its sender forge parts after it.
 */
function boundaryFor(message: StoredMessage): string {
  for (;;) {
    const boundary = `spool-mms-${randomBytes(12).toString("hex")}`;
    const marker = Buffer.from(`--${boundary}`);
    if (message.parts.every((part) => Buffer.from(part.bytes).indexOf(marker) < 0)) return boundary;
  }
}

/** The message as a multipart/mixed body, with its headers. */
export function forwardRequest(
  message: StoredMessage,
  messageId: string,
  attempt: number,
): { readonly body: Uint8Array; readonly headers: Record<string, string> } {
  const boundary = boundaryFor(message);
  const chunks: Uint8Array[] = [];
  for (const part of message.parts) {
    const headers =
      `--${boundary}\r\nContent-Type: ${part.contentType}\r\n` +
      (part.contentId === null ? "" : `Content-ID: <${part.contentId}>\r\n`) +
      `Content-Length: ${part.bytes.byteLength}\r\n\r\n`;
    chunks.push(Buffer.from(headers, "utf8"), part.bytes, Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: Buffer.concat(chunks),
    headers: {
      "content-type": `multipart/mixed; boundary="${boundary}"`,
      "x-mms-message-id": messageId,
      "x-mms-recipients": message.recipients.join(","),
      "x-mms-attempt": String(attempt),
      ...envelopeHeaders(message),
    },
  };
}

/** The answer's status line text for a reason, at most this long (it may be the recipient's). */
const STATUS_TEXT_CHARACTERS_MAX = 100;

/** POSTs `body` to `url` within `timeoutMs`; never throws, says what came of it. */
export async function attemptPost(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<AttemptResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      body,
      headers,
      // A redirect is not followed: fetch would turn the POST into a GET (a 302 to a login
      // page answered 200 would read as delivered); the 3xx is a transient failure instead.
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The body is drained so the connection can be reused.
    await response.arrayBuffer();
  } catch (error) {
    return { kind: "transient", reason: connectionFailure(error, timeoutMs) };
  }
  const { status } = response;
  if (status >= 200 && status < 300) return { kind: "delivered" };
  if (status >= 300 && status < 400) {
    // Transient: the recipient's URL is wrong or moved, which an operator can fix before expiry.
    const location = (response.headers.get("location") ?? "").slice(0, STATUS_TEXT_CHARACTERS_MAX);
    return { kind: "transient", reason: `HTTP ${status} to ${location || "(no Location)"}` };
  }
  const statusText = response.statusText.slice(0, STATUS_TEXT_CHARACTERS_MAX);
  const reason = `HTTP ${status}${statusText === "" ? "" : ` ${statusText}`}`;
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return { kind: "refused", reason };
  }
  const retryAfterMs =
    status === 429 || status === 503
      ? retryAfterMsOf(response.headers.get("retry-after"), Date.now())
      : undefined;
  return retryAfterMs === undefined
    ? { kind: "transient", reason }
    : { kind: "transient", reason, retryAfterMs };
}

/** A failed fetch in words: its timeout, or the socket error's code (ECONNREFUSED, EMFILE...). */
function connectionFailure(error: unknown, timeoutMs: number): string {
  const name = (error as { name?: string }).name;
  if (name === "TimeoutError" || name === "AbortError") return `no answer in ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return `connection failed: ${cause?.code ?? cause?.message ?? String(error)}`;
}

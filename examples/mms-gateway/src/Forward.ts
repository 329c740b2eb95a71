/**
 * One delivery attempt over HTTP: the forwarded message's body and headers (the envelope's
 * fields the recipient needs, header-safe), and what the recipient's answer means: delivered,
 * refused for good (4xx but 408, 429 and 431), or worth another try (connection errors,
 * timeouts, 3xx (never followed), 408, 429, 431, 5xx).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { retryAfterMsOf } from "./Backoff.js";
import type { StoredMessage } from "./StoredMessage.js";

/** What an attempt came to. */
export type AttemptResult =
  | { readonly kind: "delivered" }
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "transient"; readonly reason: string; readonly retryAfterMs?: number };

/**
 * A forwarded text field is cut to this many characters of header value, 1,000, counted after
 * encoding (a 1,000-emoji subject would otherwise encode to 6.6 KB): OMA's MMS conformance
 * document keeps subjects to 40. Seven such fields and the fixed ones stay within
 * `FORWARDED_HEADER_BYTES_MAX`.
 */
const HEADER_VALUE_CHARACTERS_MAX = 1000;

/**
 * All of a forward's own headers together, names and values, at most 8 KiB: half of the 16 KiB
 * Node (and most servers) take for a request's headers, the rest left to fetch's own headers. A
 * recipient answering 431 would otherwise fail a message for a size the gateway chose; so the
 * recipients, up to `recipientCountMax` × 254 characters, go in the body instead.
 */
export const FORWARDED_HEADER_BYTES_MAX = 8 * 1024;

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
  const cut = Array.from(text).slice(0, HEADER_VALUE_CHARACTERS_MAX).join("");
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
  const encoded = words.map((word) => `=?UTF-8?B?${word}?=`);
  // Cut by the encoded length, a whole word at a time (a word is at most 75 characters).
  let length = encoded.join(" ").length;
  while (length > HEADER_VALUE_CHARACTERS_MAX) length -= encoded.pop()!.length + 1;
  return encoded.join(" ");
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
function boundaryFor(parts: readonly Uint8Array[]): string {
  for (;;) {
    const boundary = `spool-mms-${randomBytes(12).toString("hex")}`;
    const marker = Buffer.from(`--${boundary}`);
    if (parts.every((part) => Buffer.from(part).indexOf(marker) < 0)) return boundary;
  }
}

/** The content type of the forwarded body's first part: the recipients, one a line. */
export const RECIPIENTS_CONTENT_TYPE = "text/plain; charset=us-ascii; x-mms=recipients";

/**
 * The message as a multipart/mixed body, with its headers. The first part is always the
 * recipients, one address a line (`RECIPIENTS_CONTENT_TYPE`); the message's parts follow.
 */
export function forwardRequest(
  message: StoredMessage,
  messageId: string,
  attempt: number,
): { readonly body: Uint8Array; readonly headers: Record<string, string> } {
  const recipients = Buffer.from(message.recipients.join("\r\n"), "ascii");
  const parts = [
    { contentType: RECIPIENTS_CONTENT_TYPE, contentId: null, bytes: recipients },
    ...message.parts,
  ];
  const boundary = boundaryFor(parts.map((part) => part.bytes));
  const chunks: Uint8Array[] = [];
  for (const part of parts) {
    const headers =
      `--${boundary}\r\nContent-Type: ${part.contentType}\r\n` +
      (part.contentId === null ? "" : `Content-ID: <${part.contentId}>\r\n`) +
      `Content-Length: ${part.bytes.byteLength}\r\n\r\n`;
    chunks.push(Buffer.from(headers, "utf8"), part.bytes, Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  const headers = {
    "content-type": `multipart/mixed; boundary="${boundary}"`,
    "x-mms-message-id": messageId,
    "x-mms-recipient-count": String(message.recipients.length),
    "x-mms-attempt": String(attempt),
    ...envelopeHeaders(message),
  };
  const headerBytes = Object.entries(headers).reduce(
    (sum, [name, value]) => sum + name.length + value.length + ": \r\n".length,
    0,
  );
  // Unreachable while HEADER_VALUE_CHARACTERS_MAX bounds every field: a bug here, not a message.
  if (headerBytes > FORWARDED_HEADER_BYTES_MAX) {
    assert.fail(`forwarded headers of ${headerBytes} bytes, over the budget`);
  }
  return { body: Buffer.concat(chunks), headers };
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
  // 431: the forward's headers are the gateway's own, within FORWARDED_HEADER_BYTES_MAX, so a
  // recipient refusing them is configured too tightly, which an operator can fix before expiry.
  if (status >= 400 && status < 500 && status !== 408 && status !== 429 && status !== 431) {
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

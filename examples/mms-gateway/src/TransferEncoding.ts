/**
 * MIME Content-Transfer-Encoding (RFC 2045 §6), decoded strictly: a part is stored and forwarded
 * as the bytes it stands for, so an encoding the gateway cannot undo exactly is refused rather
 * than passed on as garbage under a content type that promises otherwise.
 *
 * - `base64` (§6.8, RFC 4648 §4): only the alphabet, `=` padding at the end, line breaks and
 *   spaces; the length a multiple of 4 once they are removed; the pad bits zero (RFC 4648 §3.5).
 * - `quoted-printable` (§6.7): `=XX` octets and `=` soft line breaks; trailing white space on a
 *   line is dropped as transport padding (rule 3); a malformed `=`, a control character or an
 *   octet over 126 is refused.
 * - `7bit`: every octet at most 0x7F. `8bit` and `binary`: as sent.
 * - None given: as sent. RFC 2045 would assume 7bit, but HTTP carries 8-bit data unchanged
 *   (RFC 9110 §8.3 has no transfer encoding for content), and VASPs send binary parts over HTTP
 *   without the header.
 */

/**
 * The part's transfer encoding is unknown or its bytes are not valid in it.
 * @example new TransferEncodingInvalid("invalid base64: octet 0x21 at 0")
 */
export class TransferEncodingInvalid extends Error {}

/**
 * The bytes a part stands for, given its Content-Transfer-Encoding header (absent: null).
 * @example decodeTransferEncoding("quoted-printable", Buffer.from("caf=C3=A9")) // "café"
 */
export function decodeTransferEncoding(header: string | null, bytes: Uint8Array): Uint8Array {
  if (header === null) return bytes;
  const encoding = header.trim().toLowerCase();
  switch (encoding) {
    case "base64":
      return decodeBase64(bytes);
    case "quoted-printable":
      return decodeQuotedPrintable(bytes);
    case "7bit":
      return checkSevenBit(bytes);
    case "8bit":
    case "binary":
      return bytes;
    default:
      throw new TransferEncodingInvalid(
        `Content-Transfer-Encoding ${JSON.stringify(header.trim())} is not one the gateway ` +
          "decodes (7bit, 8bit, binary, quoted-printable, base64)",
      );
  }
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** Each octet's value in the base64 alphabet, or -1. */
const BASE64_VALUE = new Int8Array(256).fill(-1);
for (let at = 0; at < BASE64_ALPHABET.length; at += 1) {
  BASE64_VALUE[BASE64_ALPHABET.charCodeAt(at)] = at;
}
const EQUALS = 0x3d;
const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;

/** Validates and decodes in one pass: 4 characters (24 bits) at a time. */
function decodeBase64(bytes: Uint8Array): Uint8Array {
  // Every 4 characters make at most 3 octets.
  const decoded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 3);
  let written = 0;
  let quad = 0;
  let quadLength = 0;
  let characterCount = 0;
  let padding = 0;
  for (let at = 0; at < bytes.byteLength; at += 1) {
    const byte = bytes[at]!;
    if (byte === SPACE || byte === TAB || byte === CR || byte === LF) continue;
    characterCount += 1;
    if (byte === EQUALS) {
      padding += 1;
      continue;
    }
    const value = BASE64_VALUE[byte]!;
    if (value < 0 || padding > 0) {
      throw new TransferEncodingInvalid(
        padding > 0
          ? `invalid base64: data after the = padding (octet ${at})`
          : `invalid base64: octet 0x${byte.toString(16).padStart(2, "0")} at ${at}`,
      );
    }
    quad = (quad << 6) | value;
    quadLength += 1;
    if (quadLength === 4) {
      decoded[written] = quad >> 16;
      decoded[written + 1] = (quad >> 8) & 0xff;
      decoded[written + 2] = quad & 0xff;
      written += 3;
      quad = 0;
      quadLength = 0;
    }
  }
  if (characterCount % 4 !== 0 || padding > 2) {
    throw new TransferEncodingInvalid(
      `invalid base64: ${characterCount} characters, not a multiple of 4 with at most 2 of padding`,
    );
  }
  // One = leaves 18 bits (2 octets and 2 spare), two leave 12 (1 octet and 4 spare). The spare
  // bits must be zero, so that one text decodes to one content.
  const spareBits = padding === 1 ? 2 : padding === 2 ? 4 : 0;
  if ((quad & ((1 << spareBits) - 1)) !== 0) {
    throw new TransferEncodingInvalid("invalid base64: the bits before the padding are not zero");
  }
  quad >>= spareBits;
  if (padding === 1) decoded[written++] = quad >> 8;
  if (padding >= 1) decoded[written++] = quad & 0xff;
  return decoded.subarray(0, written);
}

function decodeQuotedPrintable(bytes: Uint8Array): Uint8Array {
  const decoded = new Uint8Array(bytes.byteLength);
  let length = 0;
  let lineStart = 0;
  while (lineStart <= bytes.byteLength) {
    let lineEnd = bytes.indexOf(LF, lineStart);
    const last = lineEnd < 0;
    if (last) lineEnd = bytes.byteLength;
    const breakStart =
      !last && lineEnd > lineStart && bytes[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    // Rule 3: white space at the end of a line was added in transport.
    let contentEnd = breakStart;
    while (
      contentEnd > lineStart &&
      (bytes[contentEnd - 1] === SPACE || bytes[contentEnd - 1] === TAB)
    ) {
      contentEnd -= 1;
    }
    const soft = contentEnd > lineStart && bytes[contentEnd - 1] === EQUALS;
    length = decodeQuotedLine(
      bytes,
      lineStart,
      soft ? contentEnd - 1 : contentEnd,
      decoded,
      length,
    );
    if (!last && !soft) {
      decoded.set(bytes.subarray(breakStart, lineEnd + 1), length);
      length += lineEnd + 1 - breakStart;
    }
    lineStart = lineEnd + 1;
  }
  return decoded.slice(0, length);
}

/** Decodes one line's octets (without its break) into `out` at `length`; the new length. */
function decodeQuotedLine(
  bytes: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  length: number,
): number {
  let written = length;
  for (let at = start; at < end; at += 1) {
    const byte = bytes[at]!;
    if (byte === EQUALS) {
      const high = hexValue(bytes[at + 1]);
      const low = hexValue(bytes[at + 2]);
      if (at + 2 >= end || high < 0 || low < 0) {
        throw new TransferEncodingInvalid(
          `invalid quoted-printable: a malformed = escape at ${at}`,
        );
      }
      out[written] = (high << 4) | low;
      at += 2;
    } else if ((byte >= SPACE && byte <= 0x7e) || byte === TAB) {
      out[written] = byte;
    } else {
      throw new TransferEncodingInvalid(
        `invalid quoted-printable: octet 0x${byte.toString(16).padStart(2, "0")} at ${at}`,
      );
    }
    written += 1;
  }
  return written;
}

/** The value of a hex digit (RFC 2045 asks for upper case; lower case is taken too), or -1. */
function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return -1;
}

function checkSevenBit(bytes: Uint8Array): Uint8Array {
  const at = bytes.findIndex((byte) => byte > 0x7f);
  if (at >= 0) {
    throw new TransferEncodingInvalid(
      `a 7bit part holds octet 0x${bytes[at]!.toString(16)} at ${at} (over 0x7F)`,
    );
  }
  return bytes;
}

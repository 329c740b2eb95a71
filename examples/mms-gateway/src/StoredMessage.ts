/**
 * A submitted message as the gateway keeps it in Spool: one record per message, holding what
 * forwarding and the delivery report need (the envelope's fields and every content part), so a
 * restart restores the gateway's work from the spool alone.
 *
 * ```
 * record = headerSize:u32 header:utf8(JSON) (partSize:u32 part)×count
 * ```
 * The header lists the parts (content type, content id) in order; their bytes follow.
 */

/** One content part: an attachment, or the content itself when it is a single part. */
export interface ContentPart {
  readonly contentType: string;
  readonly contentId: string | null;
  readonly bytes: Uint8Array;
}

/** What the gateway stores for a message, beside the MessageID it derives from the seq. */
export interface StoredMessage {
  readonly vaspId: string;
  readonly vasId: string | null;
  readonly senderAddress: string | null;
  readonly recipients: readonly string[];
  readonly subject: string | null;
  readonly deliveryReport: boolean;
  readonly transactionId: string;
  /** The MM7 schema namespace the VASP spoke, for the delivery report. */
  readonly namespace: string;
  readonly receivedAtMs: number;
  /**
   * When the SubmitReq's ExpiryDate said the message expires (ms since the epoch), or null for
   * the gateway's default after `receivedAtMs` (also for records written before this field).
   */
  readonly expiresAtMs: number | null;
  /** The SubmitReq's Priority and LinkedID, forwarded as given (null when absent or older). */
  readonly priority: string | null;
  readonly linkedId: string | null;
  readonly parts: readonly ContentPart[];
}

/** The header's shape: the message without the parts' bytes. */
type Header = Omit<StoredMessage, "parts" | "expiresAtMs" | "priority" | "linkedId"> & {
  // Optional: records written before these fields have none.
  readonly expiresAtMs?: number | null;
  readonly priority?: string | null;
  readonly linkedId?: string | null;
  readonly parts: readonly { readonly contentType: string; readonly contentId: string | null }[];
};

/** Encodes a message as one record's payload. */
export function encodeStoredMessage(message: StoredMessage): Uint8Array {
  const header: Header = {
    ...message,
    parts: message.parts.map(({ contentType, contentId }) => ({ contentType, contentId })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  let byteSize = 4 + headerBytes.byteLength;
  for (const part of message.parts) byteSize += 4 + part.bytes.byteLength;
  const record = Buffer.alloc(byteSize);
  record.writeUInt32LE(headerBytes.byteLength, 0);
  headerBytes.copy(record, 4);
  let at = 4 + headerBytes.byteLength;
  for (const part of message.parts) {
    record.writeUInt32LE(part.bytes.byteLength, at);
    record.set(part.bytes, at + 4);
    at += 4 + part.bytes.byteLength;
  }
  return record;
}

/** Decodes a record's payload; throws on a record this module did not write. */
export function decodeStoredMessage(payload: Uint8Array): StoredMessage {
  const record = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const headerSize = record.readUInt32LE(0);
  if (4 + headerSize > record.byteLength) throw new Error("stored message: header past the end");
  const header = JSON.parse(record.toString("utf8", 4, 4 + headerSize)) as Header;
  let at = 4 + headerSize;
  const parts = header.parts.map((part): ContentPart => {
    const size = record.readUInt32LE(at);
    if (at + 4 + size > record.byteLength) throw new Error("stored message: part past the end");
    const bytes = record.subarray(at + 4, at + 4 + size);
    at += 4 + size;
    return { ...part, bytes };
  });
  if (at !== record.byteLength) throw new Error("stored message: trailing bytes");
  return {
    ...header,
    expiresAtMs: header.expiresAtMs ?? null,
    priority: header.priority ?? null,
    linkedId: header.linkedId ?? null,
    parts,
  };
}

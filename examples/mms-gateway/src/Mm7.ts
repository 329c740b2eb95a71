/**
 * The part of 3GPP MM7 (TS 23.140, REL-5 and REL-6 schemas) the gateway speaks: SubmitReq in,
 * SubmitRsp or a SOAP fault carrying RSErrorRsp out, and DeliveryReportReq to a VASP. SOAP 1.1.
 *
 * XML is read by `Xml.ts`: strict XML 1.0 in UTF-8 or UTF-16, no DTD (SOAP 1.1 forbids one, so
 * no entity is ever declared or expanded), nested at most {@link ENVELOPE_DEPTH_MAX} deep.
 */
import { namespaceUriOf, readXml, XmlRefused } from "./Xml.js";

/** Where the MM7 schemas live; any release under it is accepted, and echoed in answers. */
const MM7_NAMESPACE_ROOT = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/";
/** The release the gateway answers in when a request names none (REL-6, MM7 version 6.8.0). */
export const DEFAULT_MM7_NAMESPACE = `${MM7_NAMESPACE_ROOT}REL-6-MM7-1-4`;
const MM7_VERSION = "6.8.0";
const SOAP_NAMESPACE = "http://schemas.xmlsoap.org/soap/envelope/";

/** MM7 status codes the gateway uses (TS 23.140 §8.7.4, verified against three code tables). */
export const STATUS = {
  success: 1000,
  clientError: 2000,
  operationRestricted: 2001,
  addressError: 2002,
  contentRefused: 2004,
  messageIdNotFound: 2005,
  formatCorrupt: 2007,
  serverError: 3000,
  improperIdentification: 4001,
  unsupportedVersion: 4002,
  unsupportedOperation: 4003,
  validationError: 4004,
  serviceUnavailable: 4006,
} as const;

/** A request the gateway answers with a SOAP fault (HTTP 500, as SOAP 1.1 §6.2 requires). */
export class Mm7Fault extends Error {
  readonly statusCode: number;
  /**
   * Client: the request is at fault; Server: the gateway is; VersionMismatch: the Envelope is
   * not SOAP 1.1's (SOAP 1.1 §4.4.1).
   */
  readonly side: "Client" | "Server" | "VersionMismatch";

  constructor(statusCode: number, statusText: string, side: Mm7Fault["side"] = "Client") {
    super(statusText);
    this.statusCode = statusCode;
    this.side = side;
  }
}

/** A SubmitReq's fields the gateway uses. */
export interface SubmitRequest {
  readonly namespace: string;
  readonly transactionId: string;
  readonly mm7Version: string;
  readonly vaspId: string | null;
  readonly vasId: string | null;
  readonly senderAddress: string | null;
  readonly recipients: readonly string[];
  readonly subject: string | null;
  readonly deliveryReport: boolean;
  /** ExpiryDate as written: an xs:dateTime or an xs:duration (`Expiry.ts` reads it). */
  readonly expiryDate: string | null;
  /** Priority: High, Normal or Low, forwarded as given. */
  readonly priority: string | null;
  /** LinkedID: the MessageID of a message this one answers, forwarded as given. */
  readonly linkedId: string | null;
  /** The Content element's href (`cid:...`), when the message has content. */
  readonly contentHref: string | null;
}

/**
 * How deep an envelope's elements may nest: a SubmitReq is 6 deep at most (Envelope, Body,
 * SubmitReq, Recipients, To, Number); 32 leaves room for extensions while bounding the parser's
 * stack and the tree a hostile envelope can make.
 */
const ENVELOPE_DEPTH_MAX = 32;

/** Elements that are lists whether they occur once or many times. */
function isListElement(path: readonly string[]): boolean {
  const [parent, name] = path.slice(-2);
  return (
    (parent === "Recipients" && /^(To|Cc|Bcc)$/.test(name!)) ||
    (/^(To|Cc|Bcc)$/.test(parent ?? "") && /^(Number|RFC2822Address|ShortCode)$/.test(name!))
  );
}

type Node = Record<string, unknown>;

/**
 * What a recipient may look like: a number (E.164, digits with an optional +), a short code, or
 * an RFC 2822 address, in printable ASCII without spaces or commas; 254 characters at most (RFC
 * 5321). A control character would otherwise reach the forwarded request, and a comma would
 * read as two recipients wherever addresses are listed with commas (a quoted local part with a
 * comma is refused too, a small price).
 */
const ADDRESS = /^[\x21-\x2b\x2d-\x7e]{1,254}$/;

/**
 * Parses an envelope, as bytes (decoded by their byte order mark) or as text already decoded; a
 * fault (4004) for anything that is not well-formed XML 1.0 or not a SOAP envelope.
 */
export function parseEnvelope(xml: Uint8Array | string): {
  namespace: string;
  transactionId: string;
  operation: string;
  body: Node;
} {
  let document: Node;
  let namespaces: readonly string[];
  try {
    ({ document, namespaces } = readXml(xml, {
      depthMax: ENVELOPE_DEPTH_MAX,
      isArray: isListElement,
    }));
  } catch (error) {
    if (error instanceof XmlRefused) throw new Mm7Fault(STATUS.validationError, error.message);
    throw error;
  }
  const envelope = child(document, "Envelope");
  const body = envelope === undefined ? undefined : child(envelope, "Body");
  if (envelope === undefined || body === undefined) {
    throw new Mm7Fault(STATUS.validationError, "not a SOAP envelope (no Envelope/Body)");
  }
  const header = child(envelope, "Header");
  checkSoapNamespaces(envelope, header, body);
  const transactionId = text(header === undefined ? undefined : header.TransactionID);
  if (transactionId === null) {
    throw new Mm7Fault(STATUS.validationError, "the SOAP Header has no TransactionID");
  }
  const operation = Object.keys(body).find((key) => !key.startsWith("@_") && key !== "#text");
  if (operation === undefined) throw new Mm7Fault(STATUS.validationError, "the SOAP Body is empty");
  // Text only (`<SubmitReq>x</SubmitReq>`) or the operation twice (an array): no request to read.
  const request = child(body, operation);
  if (request === undefined) {
    throw new Mm7Fault(STATUS.validationError, "the SOAP Body's operation is not one element");
  }
  return { namespace: namespaceOf(namespaces), transactionId, operation, body: request };
}

/** The SubmitReq in an envelope; faults for what the gateway cannot take. */
export function parseSubmitRequest(
  xml: Uint8Array | string,
  recipientCountMax: number,
): SubmitRequest {
  const { namespace, transactionId, operation, body } = parseEnvelope(xml);
  if (operation !== "SubmitReq") {
    throw new Mm7Fault(STATUS.unsupportedOperation, `operation ${operation} is not supported here`);
  }
  const mm7Version = text(body.MM7Version);
  if (mm7Version === null) throw new Mm7Fault(STATUS.validationError, "MM7Version is missing");
  if (!/^[56]\.\d+\.\d+$/.test(mm7Version)) {
    throw new Mm7Fault(STATUS.unsupportedVersion, `MM7Version ${mm7Version} is not supported`);
  }
  const sender = child(body, "SenderIdentification");
  const recipients = recipientsOf(child(body, "Recipients"));
  if (recipients.length === 0) {
    throw new Mm7Fault(STATUS.addressError, "the message has no recipients");
  }
  const malformed = recipients.find((address) => !ADDRESS.test(address));
  if (malformed !== undefined) {
    throw new Mm7Fault(
      STATUS.addressError,
      `recipient ${JSON.stringify(malformed)} is not an address`,
    );
  }
  if (recipients.length > recipientCountMax) {
    throw new Mm7Fault(
      STATUS.validationError,
      `limit recipientCountMax (${recipientCountMax}) exceeded`,
    );
  }
  const content = child(body, "Content");
  return {
    namespace,
    transactionId,
    mm7Version,
    vaspId: text(sender?.VASPID),
    vasId: text(sender?.VASID),
    senderAddress: addressText(sender?.SenderAddress),
    recipients,
    subject: text(body.Subject),
    // xs:boolean: "true" or "1" (XML Schema Part 2 §3.2.2).
    deliveryReport: ["true", "1"].includes((text(body.DeliveryReport) ?? "").toLowerCase()),
    expiryDate: text(body.ExpiryDate),
    priority: text(body.Priority),
    linkedId: text(body.LinkedID),
    contentHref: content === undefined ? null : text(content["@_href"]),
  };
}

/**
 * Envelope, Header and Body must be SOAP 1.1's: an Envelope in another namespace (SOAP 1.2's
 * among them) is a VersionMismatch (SOAP 1.1 §4.4.1), a Header or Body in another is not the
 * envelope's. An empty element has no node to carry its namespace, and nothing to read either.
 */
function checkSoapNamespaces(envelope: Node, header: Node | undefined, body: Node): void {
  const envelopeUri = namespaceUriOf(envelope);
  if (envelopeUri !== undefined && envelopeUri !== SOAP_NAMESPACE) {
    throw new Mm7Fault(
      STATUS.validationError,
      `the Envelope is in namespace "${envelopeUri}", not SOAP 1.1's ${SOAP_NAMESPACE}`,
      "VersionMismatch",
    );
  }
  for (const [name, node] of Object.entries({ Header: header, Body: body })) {
    const uri = node === undefined ? undefined : namespaceUriOf(node);
    if (uri !== undefined && uri !== SOAP_NAMESPACE) {
      throw new Mm7Fault(
        STATUS.validationError,
        `the ${name} is in namespace "${uri}", not SOAP 1.1's ${SOAP_NAMESPACE}`,
      );
    }
  }
}

function recipientsOf(recipients: Node | undefined): string[] {
  if (recipients === undefined) return [];
  const found: string[] = [];
  for (const kind of ["To", "Cc", "Bcc"]) {
    for (const group of (recipients[kind] as Node[] | undefined) ?? []) {
      for (const addressKind of ["Number", "RFC2822Address", "ShortCode"]) {
        for (const address of (group[addressKind] as unknown[] | undefined) ?? []) {
          const value = text(address);
          if (value !== null) found.push(value);
        }
      }
    }
  }
  return found;
}

/** REL-6 wraps the sender in Number/RFC2822Address/ShortCode; older peers send plain text. */
function addressText(value: unknown): string | null {
  const plain = text(value);
  if (plain !== null || typeof value !== "object" || value === null) return plain;
  const node = value as Node;
  return text(node.Number) ?? text(node.RFC2822Address) ?? text(node.ShortCode);
}

function child(node: Node, name: string): Node | undefined {
  const value = node[name];
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Node;
  // An empty element parses as "", which still counts as present.
  return value === "" ? {} : undefined;
}

function text(value: unknown): string | null {
  if (typeof value === "string") return value.length > 0 ? value : null;
  if (typeof value === "object" && value !== null && "#text" in value) {
    return text((value as Node)["#text"]);
  }
  return null;
}

/** The first MM7 namespace an element is in (the TransactionID's, usually), as the parser saw. */
function namespaceOf(namespaces: readonly string[]): string {
  return namespaces.find((uri) => uri.startsWith(MM7_NAMESPACE_ROOT)) ?? DEFAULT_MM7_NAMESPACE;
}

/** Escapes text for an XML element or attribute. */
export function escapeXml(value: string): string {
  return value.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function envelope(namespace: string, transactionId: string, body: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<env:Envelope xmlns:env="${SOAP_NAMESPACE}"><env:Header>` +
    `<mm7:TransactionID xmlns:mm7="${escapeXml(namespace)}" env:mustUnderstand="1">` +
    `${escapeXml(transactionId)}</mm7:TransactionID></env:Header>` +
    `<env:Body>${body}</env:Body></env:Envelope>\n`
  );
}

/** SubmitRsp: the message is stored durably under `messageId`. */
export function submitResponse(
  request: { readonly namespace: string; readonly transactionId: string },
  messageId: string,
): string {
  return envelope(
    request.namespace,
    request.transactionId,
    `<SubmitRsp xmlns="${escapeXml(request.namespace)}"><MM7Version>${MM7_VERSION}</MM7Version>` +
      `<Status><StatusCode>${STATUS.success}</StatusCode><StatusText>Success</StatusText>` +
      `</Status><MessageID>${escapeXml(messageId)}</MessageID></SubmitRsp>`,
  );
}

/** A SOAP fault with RSErrorRsp in its detail. */
export function faultResponse(
  fault: Mm7Fault,
  namespace = DEFAULT_MM7_NAMESPACE,
  transactionId = "",
): string {
  return envelope(
    namespace,
    transactionId,
    `<env:Fault><faultcode>env:${fault.side}</faultcode>` +
      `<faultstring>${escapeXml(fault.message)}</faultstring><detail>` +
      `<RSErrorRsp xmlns="${escapeXml(namespace)}"><MM7Version>${MM7_VERSION}</MM7Version>` +
      `<Status><StatusCode>${fault.statusCode}</StatusCode>` +
      `<StatusText>${escapeXml(fault.message)}</StatusText></Status></RSErrorRsp>` +
      `</detail></env:Fault>`,
  );
}

/** How a message ended, as MM7's MMStatus says it. */
export type MmStatus = "Retrieved" | "Rejected" | "Expired" | "Indeterminate" | "Forwarded";

/** DeliveryReportReq, from the gateway to the VASP that submitted the message. */
export function deliveryReportRequest(report: {
  readonly namespace: string;
  readonly transactionId: string;
  readonly messageId: string;
  readonly recipient: string;
  readonly sender: string | null;
  readonly dateIso: string;
  readonly mmStatus: MmStatus;
  readonly statusText: string;
}): string {
  const ns = escapeXml(report.namespace);
  return envelope(
    report.namespace,
    report.transactionId,
    `<DeliveryReportReq xmlns="${ns}"><MM7Version>${MM7_VERSION}</MM7Version>` +
      `<MessageID>${escapeXml(report.messageId)}</MessageID>` +
      `<Recipient><Number>${escapeXml(report.recipient)}</Number></Recipient>` +
      (report.sender === null
        ? ""
        : `<Sender><Number>${escapeXml(report.sender)}</Number></Sender>`) +
      `<Date>${escapeXml(report.dateIso)}</Date><MMStatus>${report.mmStatus}</MMStatus>` +
      `<StatusText>${escapeXml(report.statusText)}</StatusText></DeliveryReportReq>`,
  );
}

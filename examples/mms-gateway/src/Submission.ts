/**
 * Builds MM7 SubmitReq HTTP bodies (multipart/related: the SOAP envelope, then the content as a
 * multipart/mixed part holding the attachments): what a VASP sends, for the load driver, the
 * tests and the README's walkthrough.
 */
import { DEFAULT_MM7_NAMESPACE, escapeXml } from "./Mm7.js";

export interface Attachment {
  readonly contentType: string;
  readonly contentId: string;
  readonly bytes: Uint8Array;
}

export interface SubmissionInput {
  readonly transactionId: string;
  readonly vaspId: string;
  readonly recipients: readonly string[];
  readonly subject?: string;
  readonly deliveryReport?: boolean;
  readonly attachments: readonly Attachment[];
}

/** The envelope alone. */
export function submitEnvelope(input: SubmissionInput, contentId: string | null): string {
  const ns = DEFAULT_MM7_NAMESPACE;
  const to = input.recipients.map((r) => `<Number>${escapeXml(r)}</Number>`).join("");
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\r\n` +
    `<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>` +
    `<mm7:TransactionID xmlns:mm7="${ns}" env:mustUnderstand="1">` +
    `${escapeXml(input.transactionId)}</mm7:TransactionID></env:Header><env:Body>` +
    `<SubmitReq xmlns="${ns}"><MM7Version>6.8.0</MM7Version>` +
    `<SenderIdentification><VASPID>${escapeXml(input.vaspId)}</VASPID>` +
    `<SenderAddress><ShortCode>12345</ShortCode></SenderAddress></SenderIdentification>` +
    `<Recipients><To>${to}</To></Recipients>` +
    `<DeliveryReport>${input.deliveryReport === true}</DeliveryReport>` +
    (input.subject === undefined ? "" : `<Subject>${escapeXml(input.subject)}</Subject>`) +
    (contentId === null ? "" : `<Content href="cid:${contentId}"/>`) +
    `</SubmitReq></env:Body></env:Envelope>`
  );
}

/** The HTTP body and its Content-Type. */
export function submissionBody(input: SubmissionInput): { contentType: string; body: Buffer } {
  const outer = `mm7-outer-${input.transactionId}`;
  const inner = `mm7-inner-${input.transactionId}`;
  const contentId = input.attachments.length === 0 ? null : `content-${input.transactionId}`;
  const chunks: (string | Uint8Array)[] = [
    `--${outer}\r\nContent-Type: text/xml; charset="utf-8"\r\nContent-ID: <soap-start>\r\n\r\n`,
    submitEnvelope(input, contentId),
    "\r\n",
  ];
  if (contentId !== null) {
    chunks.push(
      `--${outer}\r\nContent-Type: multipart/mixed; boundary="${inner}"\r\n` +
        `Content-ID: <${contentId}>\r\n\r\n`,
    );
    for (const attachment of input.attachments) {
      chunks.push(
        `--${inner}\r\nContent-Type: ${attachment.contentType}\r\n` +
          `Content-ID: <${attachment.contentId}>\r\n\r\n`,
        attachment.bytes,
        "\r\n",
      );
    }
    chunks.push(`--${inner}--\r\n\r\n`);
  }
  chunks.push(`--${outer}--\r\n`);
  return {
    contentType: `multipart/related; boundary="${outer}"; type="text/xml"; start="<soap-start>"`,
    body: Buffer.concat(
      chunks.map((chunk) => (typeof chunk === "string" ? Buffer.from(chunk) : chunk)),
    ),
  };
}

/** HTTP Basic credentials. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

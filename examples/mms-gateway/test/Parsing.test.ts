import { mkdtemp, rm } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { AppendResult } from "@spool/actors";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, openGateway } from "../src/Gateway.js";
import { DEFAULT_LIMITS } from "../src/Limits.js";
import { parseSubmissionBody } from "../src/Mime.js";
import { faultResponse, Mm7Fault, parseSubmitRequest, type SubmitRequest } from "../src/Mm7.js";
import { decodeStoredMessage, type StoredMessage } from "../src/StoredMessage.js";
import { basicAuthorization } from "../src/Submission.js";
import { acceptSubmission, Refused } from "../src/Submit.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const MM7 = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4";

/** A SubmitReq envelope; `subject` and `declaration` go in as written (not escaped). */
function envelope({
  subject = "hello",
  declaration = '<?xml version="1.0" encoding="UTF-8"?>',
  contentHref = null as string | null,
} = {}): string {
  return (
    `${declaration}\n` +
    `<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>` +
    `<mm7:TransactionID xmlns:mm7="${MM7}" env:mustUnderstand="1">tx-1</mm7:TransactionID>` +
    `</env:Header><env:Body><SubmitReq xmlns="${MM7}"><MM7Version>6.8.0</MM7Version>` +
    `<SenderIdentification><VASPID>acme</VASPID>` +
    `<SenderAddress><ShortCode>12345</ShortCode></SenderAddress></SenderIdentification>` +
    `<Recipients><To><Number>447700900123</Number></To></Recipients>` +
    `<Subject>${subject}</Subject>` +
    (contentHref === null ? "" : `<Content href="${contentHref}"/>`) +
    `</SubmitReq></env:Body></env:Envelope>`
  );
}

/** The envelope's bytes as a VASP would send them in a text/xml body. */
function parseBytes(bytes: Uint8Array): SubmitRequest {
  const body = parseSubmissionBody("text/xml", bytes, DEFAULT_LIMITS);
  return parseSubmitRequest(body.soapXml, DEFAULT_LIMITS.recipientCountMax);
}

function faultOf(parse: () => unknown): Mm7Fault {
  try {
    parse();
  } catch (error) {
    if (error instanceof Mm7Fault) return error;
    throw error;
  }
  throw new Error("the parse was accepted; a fault was expected");
}

const utf16le = (text: string) =>
  Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
const utf16be = (text: string) => utf16le(text).swap16();

/** A multipart/related body: the envelope, then one content part with the headers given. */
function mimeBody(xml: string, partHeaders: string, partBytes: Uint8Array | string) {
  const chunks = [
    `--outer\r\nContent-Type: text/xml; charset="utf-8"\r\nContent-ID: <soap-start>\r\n\r\n`,
    xml,
    `\r\n--outer\r\n${partHeaders}\r\nContent-ID: <part-1>\r\n\r\n`,
    partBytes,
    `\r\n--outer--\r\n`,
  ];
  return {
    contentType: 'multipart/related; boundary="outer"; type="text/xml"; start="<soap-start>"',
    body: Buffer.concat(chunks.map((chunk) => Buffer.from(chunk))),
  };
}

/**
 * Submits a body through the gateway's own submission path (parse, check, encode, append) to an
 * append that keeps the record: the stored message, or the MM7 status code it was refused with.
 */
async function submitted(
  contentType: string,
  body: Uint8Array,
): Promise<{ statusCode: number; text: string; stored: StoredMessage | null }> {
  let record: Uint8Array | null = null;
  const append = async (bytes: Uint8Array): Promise<AppendResult> => {
    record = bytes;
    return { seq: 1 as AppendResult["seq"], durability: "flushed" };
  };
  try {
    await acceptSubmission({ contentType, body, vaspId: "acme" }, DEFAULT_LIMITS, append);
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    return { statusCode: error.fault.statusCode, text: error.fault.message, stored: null };
  }
  return { statusCode: 1000, text: "Success", stored: decodeStoredMessage(record!) };
}

/** How a message whose one content part has these headers and bytes is answered and stored. */
async function statusOf(partHeaders: string, partBytes: Uint8Array | string) {
  const xml = envelope({ contentHref: "cid:part-1" });
  const { contentType, body } = mimeBody(xml, partHeaders, partBytes);
  return submitted(contentType, body);
}

/** The stored content part of a message whose one part has these headers and bytes. */
async function storedPart(partHeaders: string, partBytes: Uint8Array | string) {
  const result = await statusOf(partHeaders, partBytes);
  expect(result.statusCode).toBe(1000);
  expect(result.stored!.parts.length).toBe(1);
  return result.stored!.parts[0]!;
}

const part = (contentType: string, encoding: string) =>
  `Content-Type: ${contentType}\r\nContent-Transfer-Encoding: ${encoding}`;

describe("the SOAP envelope must be well-formed XML 1.0", () => {
  it("refuses a NUL character in the envelope with 4004", () => {
    const fault = faultOf(() => parseBytes(Buffer.from(envelope({ subject: "a\u0000b" }))));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/XML not well-formed: .*disallowed character/);
  });

  it("refuses a raw control character in the envelope", () => {
    const fault = faultOf(() => parseBytes(Buffer.from(envelope({ subject: "a\u0001b" }))));
    expect(fault.statusCode).toBe(4004);
  });

  it("refuses an undeclared entity", () => {
    const fault = faultOf(() => parseBytes(Buffer.from(envelope({ subject: "a&secret;b" }))));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/undefined entity/);
  });

  it("refuses an HTML entity such as &nbsp; (XML predefines only five)", () => {
    const fault = faultOf(() => parseBytes(Buffer.from(envelope({ subject: "a&nbsp;b" }))));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/undefined entity/);
  });

  it("refuses 1&#0;2 rather than storing it as 12", () => {
    const fault = faultOf(() => parseBytes(Buffer.from(envelope({ subject: "1&#0;2" }))));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/character entity/);
  });

  it("refuses a character reference to a control character (&#1;)", () => {
    const fault = faultOf(() => parseBytes(Buffer.from(envelope({ subject: "a&#1;b" }))));
    expect(fault.statusCode).toBe(4004);
  });

  it("reads a UTF-16 LE envelope with its byte order mark", () => {
    const xml = envelope({
      declaration: '<?xml version="1.0" encoding="UTF-16"?>',
      subject: "Grüße ☃",
    });
    const request = parseBytes(utf16le(xml));
    expect(request.subject).toBe("Grüße ☃");
    expect(request.recipients).toEqual(["447700900123"]);
    expect(request.transactionId).toBe("tx-1");
    expect(request.namespace).toBe(MM7);
  });

  it("reads a UTF-16 BE envelope with its byte order mark", () => {
    const xml = envelope({ declaration: '<?xml version="1.0" encoding="UTF-16"?>', subject: "é" });
    const request = parseBytes(utf16be(xml));
    expect(request.subject).toBe("é");
    expect(request.recipients).toEqual(["447700900123"]);
  });

  it("reads a UTF-8 envelope with a byte order mark", () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(envelope())]);
    expect(parseBytes(bytes).subject).toBe("hello");
  });

  it("refuses bytes that are not UTF-8, rather than replacing them", () => {
    const bytes = Buffer.from(envelope({ subject: "a\u00e9b" }), "latin1");
    const fault = faultOf(() => parseBytes(bytes));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/UTF-8/);
  });

  it("refuses an encoding declaration that contradicts the bytes", () => {
    const xml = envelope({ declaration: '<?xml version="1.0" encoding="UTF-16"?>' });
    const fault = faultOf(() => parseBytes(Buffer.from(xml)));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/declares encoding UTF-16 but is UTF-8/);
  });

  it("refuses an encoding other than UTF-8 or UTF-16", () => {
    const xml = envelope({ declaration: '<?xml version="1.0" encoding="ISO-8859-1"?>' });
    const fault = faultOf(() => parseBytes(Buffer.from(xml)));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/encoding ISO-8859-1 is not supported/);
  });

  it("refuses an XML 1.1 envelope", () => {
    const xml = envelope({ declaration: '<?xml version="1.1" encoding="UTF-8"?>' });
    const fault = faultOf(() => parseBytes(Buffer.from(xml)));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/XML 1\.1/);
  });

  it("refuses a UTF-16 envelope without its byte order mark", () => {
    const xml = envelope({ declaration: '<?xml version="1.0" encoding="UTF-16"?>' });
    const fault = faultOf(() => parseBytes(Buffer.from(xml, "utf16le")));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/byte order mark/);
  });

  it("refuses a processing instruction (SOAP 1.1 forbids them)", () => {
    const xml = envelope().replace("<env:Body>", '<env:Body><?xml-stylesheet href="x"?>');
    const fault = faultOf(() => parseBytes(Buffer.from(xml)));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/processing instruction/);
  });

  it("keeps <![CDATA[<!DOCTYPE x>]]> in the Subject as text", () => {
    const request = parseBytes(Buffer.from(envelope({ subject: "<![CDATA[<!DOCTYPE x>]]>" })));
    expect(request.subject).toBe("<!DOCTYPE x>");
  });

  it("refuses a DOCTYPE even when it declares nothing", () => {
    const xml = envelope().replace("\n", "\n<!DOCTYPE Envelope>");
    const fault = faultOf(() => parseBytes(Buffer.from(xml)));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/DTD is not allowed/);
  });

  it("refuses billion laughs (entities declared in a DOCTYPE) before expanding anything", () => {
    const laughs =
      '<!DOCTYPE Envelope [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' +
      '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>';
    const xml = envelope({ subject: "&c;" }).replace("\n", `\n${laughs}`);
    const fault = faultOf(() => parseBytes(Buffer.from(xml)));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/DTD is not allowed/);
  });

  it("refuses elements nested deeper than 32, and takes 32", () => {
    // The Subject is at depth 4 (Envelope, Body, SubmitReq, Subject): n more inside it.
    const nested = (n: number) => envelope({ subject: `${"<x>".repeat(n)}${"</x>".repeat(n)}` });
    expect(parseBytes(Buffer.from(nested(32 - 4))).transactionId).toBe("tx-1");
    const fault = faultOf(() => parseBytes(Buffer.from(nested(33 - 4))));
    expect(fault.statusCode).toBe(4004);
    expect(fault.message).toMatch(/deeper than 32/);
  });

  it("decodes the five predefined entities and character references", () => {
    const request = parseBytes(
      Buffer.from(envelope({ subject: "&lt;&amp;&gt;&quot;&apos;&#233;&#x1F600;" })),
    );
    expect(request.subject).toBe("<&>\"'é😀");
  });
});

/** An envelope whose Body holds `body` as written. */
function envelopeAround(body: string): string {
  return (
    `<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>` +
    `<mm7:TransactionID xmlns:mm7="${MM7}">tx-1</mm7:TransactionID>` +
    `</env:Header><env:Body>${body}</env:Body></env:Envelope>`
  );
}

const SUBMIT_REQ =
  `<SubmitReq xmlns="${MM7}"><MM7Version>6.8.0</MM7Version>` +
  `<Recipients><To><Number>447700900123</Number></To></Recipients></SubmitReq>`;

const SOAP_1_1 = "http://schemas.xmlsoap.org/soap/envelope/";

/** An envelope whose Envelope, Header and Body are in these namespaces (`soap`, by default). */
function envelopeIn(namespaces: { soap?: string; envelope?: string; header?: string } = {}) {
  const { soap = SOAP_1_1, envelope = soap, header = soap } = namespaces;
  const body = soap;
  return (
    `<e:Envelope xmlns:e="${envelope}" xmlns:h="${header}" xmlns:b="${body}"><h:Header>` +
    `<mm7:TransactionID xmlns:mm7="${MM7}">tx-1</mm7:TransactionID>` +
    `</h:Header><b:Body>${SUBMIT_REQ}</b:Body></e:Envelope>`
  );
}

describe("the SOAP envelope's namespaces", () => {
  it("accepts Envelope, Header and Body in SOAP 1.1's namespace, prefixed or by default", () => {
    expect(parseBytes(Buffer.from(envelopeIn())).transactionId).toBe("tx-1");
    const byDefault = envelopeAround(SUBMIT_REQ)
      .replace(/<(\/?)env:/g, "<$1")
      .replace('xmlns:env="', 'xmlns="');
    expect(parseBytes(Buffer.from(byDefault)).recipients).toEqual(["447700900123"]);
  });

  it("answers an Envelope in another namespace with a VersionMismatch fault (4004)", () => {
    const fault = faultOf(() => parseBytes(Buffer.from(envelopeIn({ envelope: "urn:x" }))));
    expect([fault.statusCode, fault.side]).toEqual([4004, "VersionMismatch"]);
    expect(faultResponse(fault)).toContain("<faultcode>env:VersionMismatch</faultcode>");
  });

  it("answers a SOAP 1.2 envelope with a VersionMismatch fault", () => {
    const soap12 = "http://www.w3.org/2003/05/soap-envelope";
    const fault = faultOf(() => parseBytes(Buffer.from(envelopeIn({ soap: soap12 }))));
    expect([fault.statusCode, fault.side]).toEqual([4004, "VersionMismatch"]);
  });

  it("refuses a Header or a Body outside SOAP 1.1's namespace with 4004", () => {
    const inUrnX = envelopeIn({ header: "urn:x" });
    const inNone = envelopeIn().replace(/(<\/?)b:Body/g, "$1Body");
    for (const [name, xml] of Object.entries({ Header: inUrnX, Body: inNone })) {
      const fault = faultOf(() => parseBytes(Buffer.from(xml)));
      expect([fault.statusCode, fault.side]).toEqual([4004, "Client"]);
      expect(fault.message).toMatch(new RegExp(`^the ${name} is in namespace "(urn:x)?"`));
    }
  });

  it("refuses application/soap+xml (SOAP 1.2's media type) with 2007", async () => {
    const answer = await submitted("application/soap+xml", Buffer.from(envelopeIn()));
    expect(answer.statusCode).toBe(2007);
    expect(answer.text).toMatch(/SOAP 1\.2/);
  });
});

describe("the SOAP envelope's structure", () => {
  it("reads DeliveryReport as xs:boolean: 1 and true ask for a report, 0 and false do not", () => {
    const asked = (value: string) =>
      parseBytes(
        Buffer.from(
          envelopeAround(
            SUBMIT_REQ.replace(
              "</SubmitReq>",
              `<DeliveryReport>${value}</DeliveryReport></SubmitReq>`,
            ),
          ),
        ),
      ).deliveryReport;
    expect(["1", "true", "0", "false"].map(asked)).toEqual([true, true, false, false]);
  });

  it("refuses a SubmitReq holding only text with 4004, not a server error", async () => {
    const xml = envelopeAround(`<SubmitReq xmlns="${MM7}">x</SubmitReq>`);
    const fault = faultOf(() => parseBytes(Buffer.from(xml)));
    expect([fault.statusCode, fault.message]).toEqual([4004, expect.stringMatching(/operation/)]);
    const answer = await submitted("text/xml", Buffer.from(xml));
    expect(answer.statusCode).toBe(4004);
    expect(answer.text).not.toMatch(/TypeError/);
  });

  it("refuses two SubmitReq elements in one Body with 4004", () => {
    const xml = envelopeAround(SUBMIT_REQ + SUBMIT_REQ);
    expect(faultOf(() => parseBytes(Buffer.from(xml))).statusCode).toBe(4004);
  });

  it("answers an unexpected failure with a generic 3000, not the error text", async () => {
    const append = async (): Promise<AppendResult> => {
      throw new TypeError("Cannot read properties of undefined (reading 'secret')");
    };
    const body = Buffer.from(envelopeAround(SUBMIT_REQ));
    const input = { contentType: "text/xml", body, vaspId: "acme" };
    const refusal = await acceptSubmission(input, DEFAULT_LIMITS, append).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (!(refusal instanceof Refused)) throw new Error("the submission was not refused");
    expect(refusal.fault.statusCode).toBe(3000);
    expect(refusal.fault.message).toBe("internal server error");
  });
});

describe("content transfer encodings", () => {
  it("refuses invalid base64 with 2007 (MessageFormatCorrupt)", async () => {
    const result = await statusOf(part("image/png", "base64"), "!!not*base64!!");
    expect(result.statusCode).toBe(2007);
    expect(result.text).toMatch(/base64/);
  });

  it("refuses base64 whose length is not a multiple of 4", async () => {
    expect((await statusOf(part("image/png", "base64"), "iVBORw0")).statusCode).toBe(2007);
  });

  it("refuses base64 with padding in the middle", async () => {
    expect((await statusOf(part("image/png", "base64"), "iV==BORw")).statusCode).toBe(2007);
  });

  it("refuses base64 whose bits after the last octet are not zero", async () => {
    // "QQ==" is "A"; "QR==" would decode to "A" too if the leftover bits were ignored.
    expect((await statusOf(part("image/png", "base64"), "QR==")).statusCode).toBe(2007);
  });

  it("decodes base64 broken into lines", async () => {
    const encoded = Buffer.from("a picture, say")
      .toString("base64")
      .replace(/(.{8})/g, "$1\r\n");
    const stored = await storedPart(part("image/png", "base64"), encoded);
    expect(Buffer.from(stored.bytes).toString()).toBe("a picture, say");
  });

  it("stores quoted-printable decoded (soft line breaks and =XX)", async () => {
    const encoded = "Gr=C3=BC=C3=9Fe, a long =\r\nline=3D one.\r\nSecond line.";
    const stored = await storedPart(part("text/plain; charset=utf-8", "quoted-printable"), encoded);
    expect(Buffer.from(stored.bytes).toString()).toBe("Grüße, a long line= one.\r\nSecond line.");
    expect(stored.contentType).toBe("text/plain; charset=utf-8");
  });

  it("refuses quoted-printable with a malformed =X escape with 2007", async () => {
    const result = await statusOf(part("text/plain", "quoted-printable"), "bad =Z1 escape");
    expect(result.statusCode).toBe(2007);
    expect(result.text).toMatch(/quoted-printable/);
  });

  it("refuses an unknown Content-Transfer-Encoding with 2007", async () => {
    const result = await statusOf(part("text/plain", "x-uuencode"), "begin 644 x");
    expect(result.statusCode).toBe(2007);
    expect(result.text).toMatch(/x-uuencode/);
  });

  it("refuses 7bit content holding bytes over 0x7F with 2007", async () => {
    const result = await statusOf(part("text/plain", "7bit"), Buffer.from([0x61, 0xe9, 0x62]));
    expect(result.statusCode).toBe(2007);
    expect(result.text).toMatch(/7bit/);
  });

  it("stores 8bit and binary content as sent", async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x0a]);
    for (const encoding of ["8bit", "binary"]) {
      const stored = await storedPart(part("application/octet-stream", encoding), bytes);
      expect(Buffer.from(stored.bytes)).toEqual(bytes);
    }
  });
});

/** A recipient that keeps every forwarded body. */
async function openRecipient(): Promise<{ url: string; bodies: Buffer[] }> {
  const bodies: Buffer[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      bodies.push(Buffer.concat(chunks));
      response.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/deliver`, bodies };
}

async function start(): Promise<{ gateway: Gateway; bodies: Buffer[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-parsing-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const recipient = await openRecipient();
  const gateway = await openGateway({
    dir,
    vasps: [{ vaspId: "acme", password: "s3cret", reportUrl: null }],
    recipientUrl: recipient.url,
    delivery: { backoffBaseMs: 10, backoffMaxMs: 50 },
  });
  closers.push(() => gateway.close());
  return { gateway, bodies: recipient.bodies };
}

async function post(gateway: Gateway, body: Buffer, contentType: string) {
  const response = await fetch(`${gateway.url}/mm7`, {
    method: "POST",
    headers: {
      "content-type": contentType,
      authorization: basicAuthorization("acme", "s3cret"),
      soapaction: '""',
    },
    body,
  });
  return { status: response.status, text: await response.text() };
}

const statusCodeIn = (xml: string) => Number(/<StatusCode>(\d+)<\/StatusCode>/.exec(xml)?.[1]);

async function until(condition: () => boolean, what: string, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("strict parsing over HTTP", () => {
  it("accepts a UTF-16 envelope and stores it", async () => {
    const { gateway } = await start();
    const xml = envelope({ declaration: '<?xml version="1.0" encoding="UTF-16"?>' });
    const answer = await post(gateway, utf16le(xml), "text/xml; charset=utf-16");
    expect(answer.status).toBe(200);
    expect(statusCodeIn(answer.text)).toBe(1000);
    expect(gateway.messages.stats().records).toBe(1);
  });

  it("refuses an envelope holding 1&#0;2 with 4004 and stores nothing", async () => {
    const { gateway } = await start();
    const answer = await post(gateway, Buffer.from(envelope({ subject: "1&#0;2" })), "text/xml");
    expect(answer.status).toBe(500);
    expect(statusCodeIn(answer.text)).toBe(4004);
    expect(gateway.messages.stats().records).toBe(0);
  });

  it("refuses invalid base64 content with 2007 and stores nothing", async () => {
    const { gateway } = await start();
    const { contentType, body } = mimeBody(
      envelope({ contentHref: "cid:part-1" }),
      "Content-Type: image/png\r\nContent-Transfer-Encoding: base64",
      "this is not base64!",
    );
    const answer = await post(gateway, body, contentType);
    expect(answer.status).toBe(500);
    expect(statusCodeIn(answer.text)).toBe(2007);
    expect(answer.text).toMatch(/base64/);
    expect(gateway.messages.stats().records).toBe(0);
  });

  it("forwards quoted-printable content decoded, with no transfer encoding", async () => {
    const { gateway, bodies } = await start();
    const { contentType, body } = mimeBody(
      envelope({ contentHref: "cid:part-1" }),
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable",
      "caf=C3=A9 au =\r\nlait",
    );
    const answer = await post(gateway, body, contentType);
    expect(statusCodeIn(answer.text)).toBe(1000);
    await until(() => bodies.length === 1, "the forwarded message");
    const forwarded = bodies[0]!.toString("utf8");
    expect(forwarded).toContain("\r\n\r\ncafé au lait\r\n");
    expect(forwarded).toContain("Content-Type: text/plain; charset=utf-8");
    expect(forwarded).not.toMatch(/content-transfer-encoding/i);
  });
});

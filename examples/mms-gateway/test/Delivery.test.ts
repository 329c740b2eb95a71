import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openSpool, type Spool } from "@spool/actors";
import { afterEach, describe, expect, it } from "vitest";
import { ATTEMPTS_MAX, DEFAULT_DELIVERY, Delivery, type DeliveryOptions } from "../src/Delivery.js";
import { type Gateway, type GatewayOptions, openGateway } from "../src/Gateway.js";
import { gatewayMetrics } from "../src/Metrics.js";
import { openSink, type Sink } from "../src/Sink.js";
import { encodeStoredMessage } from "../src/StoredMessage.js";
import { basicAuthorization, type SubmissionInput, submissionBody } from "../src/Submission.js";
import type { Vasp } from "../src/Vasps.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A seeded PRNG (mulberry32), so the jitter of a failing run can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Small timings so retries are many and quick; the assertions count attempts and outcomes.
const FAST: Partial<DeliveryOptions> = {
  backoffBaseMs: 10,
  backoffMaxMs: 200,
  breakerCoolDownMs: 100,
  timeoutMs: 5_000,
  random: seeded(18),
};

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-delivery-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startGateway(
  dir: string,
  recipientUrl: string,
  vasps: readonly Vasp[],
  delivery: Partial<DeliveryOptions> = {},
  extra: Partial<GatewayOptions> = {},
): Promise<Gateway> {
  const gateway = await openGateway({
    dir,
    vasps,
    recipientUrl,
    delivery: { ...FAST, ...delivery },
    ...extra,
  });
  closers.push(() => gateway.close());
  return gateway;
}

async function start(delivery: Partial<DeliveryOptions> = {}) {
  const dir = await tempDir();
  const sink = await openSink();
  closers.push(() => sink.close());
  const vasps = [{ vaspId: "acme", password: "s3cret", reportUrl: sink.reportUrl }];
  const gateway = await startGateway(dir, sink.deliverUrl, vasps, delivery);
  return { gateway, sink, dir, vasps };
}

const message = (n: number, extra: Partial<SubmissionInput> = {}): SubmissionInput => ({
  transactionId: `tx-${n}`,
  vaspId: "acme",
  recipients: ["447700900123"],
  subject: `message ${n}`,
  deliveryReport: true,
  attachments: [{ contentType: "text/plain", contentId: "t", bytes: Buffer.from(`story ${n}`) }],
  ...extra,
});

/** Submits; `edit` rewrites the body's (ASCII) text, to add envelope elements. */
async function submit(
  gateway: Gateway,
  input: SubmissionInput,
  edit: (text: string) => string = (text) => text,
  password = "s3cret",
) {
  const { contentType, body } = submissionBody(input);
  const edited = Buffer.from(edit(body.toString("latin1")), "latin1");
  const response = await fetch(`${gateway.url}/mm7`, {
    method: "POST",
    headers: {
      "content-type": contentType,
      authorization: basicAuthorization(input.vaspId, password),
    },
    body: edited,
  });
  const text = await response.text();
  return {
    status: response.status,
    text,
    messageId: /<MessageID>([^<]+)<\/MessageID>/.exec(text)?.[1],
    statusCode: Number(/<StatusCode>(\d+)<\/StatusCode>/.exec(text)?.[1]),
  };
}

/** The envelope with `elements` before DeliveryReport (where ExpiryDate sits in the schema). */
const withElements = (elements: string) => (text: string) =>
  text.replace("<DeliveryReport>", `${elements}<DeliveryReport>`);

async function statusOf(gateway: Gateway, messageId: string, vaspId = "acme", password = "s3cret") {
  const response = await fetch(`${gateway.url}/mm7/messages/${messageId}`, {
    headers: { authorization: basicAuthorization(vaspId, password) },
  });
  return (await response.json()) as Record<string, unknown>;
}

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const mmStatusesOf = (sink: Sink) =>
  sink.reports.map((report) => /<MMStatus>(\w+)<\/MMStatus>/.exec(report)?.[1]);

const hasControlCharacter = (text: string) =>
  [...text].some((character) => character.charCodeAt(0) < 0x20 || character === "\x7f");

/** Decodes the RFC 2047 B encoded-words of a header value (the recipient's side). */
function decodeHeader(value: string): string {
  const words = value.split(" ");
  if (!words.every((word) => /^=\?UTF-8\?B\?[A-Za-z0-9+/=]*\?=$/.test(word))) return value;
  const bytes = words.map((word) => Buffer.from(word.slice(10, -2), "base64"));
  return Buffer.concat(bytes).toString("utf8");
}

describe("transient failures are retried until the message expires", () => {
  it("a recipient answering 503 is retried past the old 5 attempts (and 3 s) until it takes the message", async () => {
    const { gateway, sink } = await start();
    sink.answerWith({ status: 503 });
    const { messageId } = await submit(gateway, message(1));
    // 40 refusals: eight times the old give-up point, and more than 3 s of the old schedule.
    await until(() => sink.stats().refused >= 40, "40 refused attempts");
    const retrying = await statusOf(gateway, messageId!);
    expect(["Retrying", "Delivering", "Queued"]).toContain(retrying.state);
    sink.answerWith(null);
    await until(() => sink.received.get(messageId!) === 1, "the delivery");
    await until(async () => (await statusOf(gateway, messageId!)).state === "Delivered", "ack");
    await until(() => sink.reports.length === 1, "the report");
    expect(mmStatusesOf(sink)).toEqual(["Retrieved"]);
  });

  it("a retrying message's status names its last error, attempts and next attempt", async () => {
    const { gateway, sink } = await start({ breakerFailureCount: 1000 });
    sink.answerWith({ status: 503 });
    const { messageId } = await submit(gateway, message(1));
    await until(() => sink.stats().refused >= 3, "3 refused attempts");
    let status: Record<string, unknown> = {};
    await until(async () => {
      status = await statusOf(gateway, messageId!);
      return status.state === "Retrying";
    }, "a Retrying status");
    expect(status.lastError).toBe("HTTP 503 Service Unavailable");
    expect(status.attempts).toBeGreaterThanOrEqual(3);
    expect(Date.parse(String(status.nextAttemptAt))).not.toBeNaN();
  });

  it("429, 503 with Retry-After and refused connections are all retried, and delivered", async () => {
    const { gateway, sink } = await start({ breakerFailureCount: 1000 });
    sink.answerWith({ status: 429, retryAfter: "0" });
    const first = await submit(gateway, message(1));
    await until(() => sink.stats().refused >= 3, "3 answers of 429");
    sink.answerWith(null);
    await until(() => sink.received.get(first.messageId!) === 1, "the delivery after 429");

    await sink.refuseConnections();
    const second = await submit(gateway, message(2));
    let status: Record<string, unknown> = {};
    await until(async () => {
      status = await statusOf(gateway, second.messageId!);
      return status.state === "Retrying" && Number(status.attempts) >= 3;
    }, "3 refused connections");
    expect(status.lastError).toBe("connection failed: ECONNREFUSED");
    await sink.acceptConnections();
    await until(() => sink.received.get(second.messageId!) === 1, "the delivery after refusals");

    // A Retry-After longer than the backoff cap (200 ms here) sets the next attempt.
    const before = Date.now();
    sink.answerWith({ status: 503, retryAfter: "3" });
    const third = await submit(gateway, message(3));
    await until(async () => {
      status = await statusOf(gateway, third.messageId!);
      return status.state === "Retrying";
    }, "the Retry-After wait");
    expect(Date.parse(String(status.nextAttemptAt))).toBeGreaterThanOrEqual(before + 3000);
    sink.answerWith(null);
    await until(() => sink.received.get(third.messageId!) === 1, "the delivery after the wait");
    expect(sink.stats().delivered).toBe(3);
  });
});

describe("a redirect is never followed", () => {
  it("a recipient answering 302 (to a page that answers 200) is retried, not counted delivered", async () => {
    const { gateway, sink } = await start({ breakerFailureCount: 1000 });
    // The sink answers GET /stats with 200: a followed redirect would read as a delivery.
    sink.answerWith({ status: 302, location: "/stats" });
    const { messageId } = await submit(gateway, message(1));
    await until(() => sink.stats().refused >= 3, "3 answers of 302");
    let status: Record<string, unknown> = {};
    await until(async () => {
      status = await statusOf(gateway, messageId!);
      return status.state === "Retrying";
    }, "a Retrying status");
    expect(status.lastError).toBe("HTTP 302 to /stats");
    expect(sink.reports).toEqual([]);
    sink.answerWith(null);
    await until(() => sink.received.get(messageId!) === 1, "the delivery");
    await until(() => sink.reports.length === 1, "the report");
    expect(mmStatusesOf(sink)).toEqual(["Retrieved"]);
  });
});

describe("a message fails only by a permanent refusal or its expiry, and says why", () => {
  it("a recipient refusing with 404 fails the message at once, reports Rejected, and the reason survives a restart", async () => {
    const { gateway, sink, dir, vasps } = await start();
    sink.answerWith({ status: 404 });
    const { messageId } = await submit(gateway, message(1));
    await until(async () => (await statusOf(gateway, messageId!)).state === "Failed", "Failed");
    expect(sink.stats().refused).toBe(1);
    const status = await statusOf(gateway, messageId!);
    expect(status.reason).toBe("refused by recipient: HTTP 404 Not Found");
    expect(Date.parse(String(status.failedAt))).not.toBeNaN();
    await until(() => sink.reports.length === 1, "the report");
    expect(mmStatusesOf(sink)).toEqual(["Rejected"]);
    expect(sink.reports[0]).toContain("refused by recipient: HTTP 404 Not Found");
    await until(() => gateway.messages.messageState(1) === "done", "the ack");

    await gateway.close();
    closers.splice(closers.indexOf(closers.at(-1)!), 1);
    const reopened = await startGateway(dir, sink.deliverUrl, vasps);
    expect(await statusOf(reopened, messageId!)).toEqual(status);
    expect(sink.stats().refused).toBe(1);
  });

  it("a message past its ExpiryDate (an xs:duration) fails as expired, with an Expired report", async () => {
    const { gateway, sink } = await start();
    sink.answerWith({ status: 503 });
    const { messageId } = await submit(
      gateway,
      message(1),
      withElements("<ExpiryDate>PT1.5S</ExpiryDate>"),
    );
    await until(async () => (await statusOf(gateway, messageId!)).state === "Failed", "Failed");
    const status = await statusOf(gateway, messageId!);
    expect(status.reason).toMatch(/^expired at \d{4}-\d{2}-\d{2}T/);
    // No count of refused attempts: on a busy machine the first may come after the expiry.
    await until(() => sink.reports.length === 1, "the report");
    expect(mmStatusesOf(sink)).toEqual(["Expired"]);
  });

  it("without an ExpiryDate, a message expires after expiryDefaultMs", async () => {
    const { gateway, sink } = await start({ expiryDefaultMs: 1000 });
    sink.answerWith({ status: 503 });
    const { messageId } = await submit(gateway, message(1));
    await until(async () => (await statusOf(gateway, messageId!)).state === "Failed", "Failed");
    expect((await statusOf(gateway, messageId!)).reason).toMatch(/^expired at /);
    await until(() => sink.reports.length === 1, "the report");
    expect(mmStatusesOf(sink)).toEqual(["Expired"]);
  });

  it.each([
    [
      "an ExpiryDate in the past",
      "2001-01-01T00:00:00Z",
      /ExpiryDate 2001-01-01T00:00:00.000Z is already past/,
    ],
    [
      "an ExpiryDate that is no date",
      "tomorrow",
      /ExpiryDate &#34;tomorrow&#34; is neither an xs:dateTime nor an xs:duration/,
    ],
  ])("%s is refused at submission with 4004, nothing stored", async (_, expiry, reason) => {
    const { gateway } = await start();
    const answer = await submit(
      gateway,
      message(1),
      withElements(`<ExpiryDate>${expiry}</ExpiryDate>`),
    );
    expect(answer.status).toBe(500);
    expect(answer.statusCode).toBe(4004);
    expect(answer.text).toMatch(reason);
    expect(gateway.messages.stats().records).toBe(0);
  });
});

describe("a failure journal older than the spool", () => {
  it("a failure recorded for the same seq before the message was received neither acks it unforwarded nor names its status", async () => {
    const dir = await tempDir();
    // As if messages/ was recreated while failed.jsonl stayed: seq 1 failed long ago.
    const stale = { seq: 1, mmStatus: "Rejected", reason: "refused long ago", atMs: 1 };
    await writeFile(path.join(dir, "failed.jsonl"), `${JSON.stringify(stale)}\n`);
    const sink = await openSink();
    closers.push(() => sink.close());
    const vasps = [{ vaspId: "acme", password: "s3cret", reportUrl: sink.reportUrl }];
    const gateway = await startGateway(dir, sink.deliverUrl, vasps);
    const { messageId } = await submit(gateway, message(1));
    await until(() => sink.received.get(messageId!) === 1, "the delivery");
    await until(() => sink.reports.length === 1, "the report");
    expect(mmStatusesOf(sink)).toEqual(["Retrieved"]);
    await until(async () => (await statusOf(gateway, messageId!)).state === "Delivered", "ack");
    expect(await statusOf(gateway, messageId!)).toEqual({ messageId, state: "Delivered" });
  });
});

describe("the envelope's fields reach the recipient", () => {
  it("forwards subject (RFC 2047 when not ASCII), sender, TransactionID, VASID, VASPID, priority and linked id, no control character raw", async () => {
    const { gateway, sink } = await start();
    const subject = "Grüße\taus Zürich 🎉";
    const { messageId } = await submit(
      gateway,
      message(1, { subject, transactionId: "tx-7" }),
      (text) =>
        withElements("<Priority>High</Priority><LinkedID>msg-41</LinkedID>")(text)
          .replace("<VASPID>acme</VASPID>", "<VASPID>acme</VASPID><VASID>news</VASID>")
          .replace(">tx-7<", ">tx-7&#13;&#10;X-Forged: 1<"),
    );
    await until(() => sink.received.get(messageId!) === 1, "the delivery");
    const headers = sink.headers.get(messageId!)!;
    expect(headers["x-mms-subject"]).toMatch(/^=\?UTF-8\?B\?/);
    expect(decodeHeader(String(headers["x-mms-subject"]))).toBe(subject);
    expect(headers["x-mms-from"]).toBe("12345");
    expect(decodeHeader(String(headers["x-mms-transaction-id"]))).toBe("tx-7\r\nX-Forged: 1");
    expect(headers["x-forged"]).toBeUndefined();
    expect(headers["x-mms-vasp-id"]).toBe("acme");
    expect(headers["x-mms-vas-id"]).toBe("news");
    expect(headers["x-mms-priority"]).toBe("High");
    expect(headers["x-mms-linked-id"]).toBe("msg-41");
    for (const value of Object.values(headers))
      expect(hasControlCharacter(String(value))).toBe(false);
  });
});

describe("a forward fits any recipient's header limit", () => {
  it("100 recipients of 254 characters and a 1,000-emoji subject reach a recipient with Node's 16 KiB header limit, every recipient named", async () => {
    const { gateway, sink } = await start();
    const recipients = Array.from(
      { length: 100 },
      (_, n) => `${String(n).padStart(3, "0")}${"9".repeat(251)}`,
    );
    const subject = "🎉".repeat(1000);
    const { messageId } = await submit(gateway, message(1, { recipients, subject }));
    await until(() => sink.received.get(messageId!) === 1, "the delivery");
    expect(sink.recipients.get(messageId!)).toEqual(recipients);
    const headers = sink.headers.get(messageId!)!;
    expect(headers["x-mms-recipient-count"]).toBe("100");
    const forwardedSubject = String(headers["x-mms-subject"]);
    expect(forwardedSubject.length).toBeLessThanOrEqual(1000);
    expect(subject.startsWith(decodeHeader(forwardedSubject))).toBe(true);
    expect(decodeHeader(forwardedSubject).length).toBeGreaterThan(0);
  });
});

/** `spool`, whose writers' first `failures` appends reject (a reports disk failing a while). */
function failingAppends(spool: Spool, failures: number): Spool {
  let left = failures;
  return new Proxy(spool, {
    get(target, property) {
      if (property === "writer") {
        return (name?: string) => {
          const writer = target.writer(name);
          return new Proxy(writer, {
            get(inner, key) {
              if (key === "append" && left > 0) {
                return async () => {
                  left -= 1;
                  throw new Error("EIO: the reports disk failed");
                };
              }
              const value = Reflect.get(inner, key);
              return typeof value === "function" ? value.bind(inner) : value;
            },
          });
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("a delivered message is never forwarded again", () => {
  it("when queuing its Retrieved report fails after the 2xx, only the report is retried, then the message is acked", async () => {
    const dir = await tempDir();
    const sink = await openSink();
    closers.push(() => sink.close());
    const messages = await openSpool({
      dir: path.join(dir, "messages"),
      maxAttempts: ATTEMPTS_MAX,
    });
    const reports = await openSpool({ dir: path.join(dir, "reports"), maxAttempts: ATTEMPTS_MAX });
    const delivery = await Delivery.start({
      dir,
      messages,
      reports: failingAppends(reports, 3),
      recipientUrl: sink.deliverUrl,
      vasps: [{ vaspId: "acme", password: "s3cret", reportUrl: sink.reportUrl }],
      options: { ...DEFAULT_DELIVERY, ...FAST },
      metrics: gatewayMetrics(messages),
      messageIdOf: (seq) => `id-${seq}`,
    });
    closers.push(async () => {
      await delivery.stop();
      await messages.close();
      await reports.close();
    });
    const { seq } = await messages.writer("test").append(
      encodeStoredMessage({
        vaspId: "acme",
        vasId: null,
        senderAddress: null,
        recipients: ["447700900123"],
        subject: null,
        deliveryReport: true,
        transactionId: "tx-1",
        namespace: "ns",
        receivedAtMs: Date.now(),
        expiresAtMs: null,
        priority: null,
        linkedId: null,
        parts: [],
      }),
    );
    await until(() => messages.messageState(seq) === "done", "the ack");
    await until(() => sink.reports.length === 1, "the report");
    expect(sink.received.get(`id-${seq}`)).toBe(1);
    expect(mmStatusesOf(sink)).toEqual(["Retrieved"]);
  });
});

/** A report host that takes connections and never answers: the worst kind of dead. */
async function silentHost(): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = http.createServer(() => {
    requests += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/reports`, requests: () => requests };
}

async function counted(gateway: Gateway, result: string): Promise<number> {
  const { values } = await gateway.metrics.deliveries.get();
  return values.find((value) => value.labels.result === result)?.value ?? 0;
}

describe("a circuit breaker per recipient host", () => {
  it("a VASP whose report host hangs has its circuit opened; other hosts keep being delivered", async () => {
    const dir = await tempDir();
    const sink = await openSink();
    closers.push(() => sink.close());
    const silent = await silentHost();
    const vasps = [
      { vaspId: "acme", password: "s3cret", reportUrl: silent.url },
      { vaspId: "beta", password: "pw", reportUrl: sink.reportUrl },
    ];
    // A long cool-down: once open, the circuit lets no probe through during the test.
    const gateway = await startGateway(dir, sink.deliverUrl, vasps, {
      timeoutMs: 300,
      breakerFailureCount: 5,
      breakerCoolDownMs: 600_000,
    });
    const ids: string[] = [];
    for (let n = 0; n < 20; n++) {
      ids.push((await submit(gateway, message(n)))!.messageId!);
      ids.push(
        (await submit(gateway, message(100 + n, { vaspId: "beta" }), undefined, "pw")).messageId!,
      );
    }
    await until(() => ids.every((id) => sink.received.get(id) === 1), "every message delivered");
    await until(() => sink.reports.length === 20, "beta's 20 reports");
    // Every one of acme's 20 reports has been turned back by the open circuit at least once.
    await until(async () => (await counted(gateway, "report_deferred")) >= 20, "20 turned back");
    // Before the circuit opened: 5 failures, and at most 3 more already in flight beside them.
    expect(silent.requests()).toBeGreaterThanOrEqual(5);
    expect(silent.requests()).toBeLessThanOrEqual(8);
  });
});

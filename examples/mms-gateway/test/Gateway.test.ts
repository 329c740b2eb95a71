import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, type GatewayOptions, openGateway } from "../src/Gateway.js";
import { openSink, type Sink, type SinkOptions } from "../src/Sink.js";
import { basicAuthorization, type SubmissionInput, submissionBody } from "../src/Submission.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function start(
  sinkOptions: SinkOptions = {},
  gatewayOptions: Partial<GatewayOptions> = {},
): Promise<{ gateway: Gateway; sink: Sink; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-gateway-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const sink = await openSink(sinkOptions);
  closers.push(() => sink.close());
  const gateway = await openGateway({
    dir,
    vasps: [
      { vaspId: "acme", password: "s3cret", reportUrl: sink.reportUrl },
      { vaspId: "beta", password: "pw", reportUrl: null },
    ],
    recipientUrl: sink.deliverUrl,
    delivery: { backoffBaseMs: 10, backoffMaxMs: 50 },
    ...gatewayOptions,
  });
  closers.push(() => gateway.close());
  return { gateway, sink, dir };
}

const message = (n: number, extra: Partial<SubmissionInput> = {}): SubmissionInput => ({
  transactionId: `tx-${n}`,
  vaspId: "acme",
  recipients: ["447700900123"],
  subject: `message ${n}`,
  deliveryReport: true,
  attachments: [
    { contentType: "text/plain", contentId: "story.txt", bytes: Buffer.from(`story ${n}`) },
    {
      contentType: "image/png",
      contentId: "pic.png",
      bytes: Buffer.from([0x89, 0x50, 0x4e, 0x47]),
    },
  ],
  ...extra,
});

async function post(
  gateway: Gateway,
  body: Buffer | string,
  contentType: string,
  authorization = basicAuthorization("acme", "s3cret"),
) {
  const response = await fetch(`${gateway.url}/mm7`, {
    method: "POST",
    headers: { "content-type": contentType, authorization, soapaction: '""' },
    body,
  });
  return { status: response.status, text: await response.text() };
}

async function submit(gateway: Gateway, input: SubmissionInput) {
  const { contentType, body } = submissionBody(input);
  return post(gateway, body, contentType);
}

const messageIdIn = (xml: string) => /<MessageID>([^<]+)<\/MessageID>/.exec(xml)?.[1];
const statusCodeIn = (xml: string) => Number(/<StatusCode>(\d+)<\/StatusCode>/.exec(xml)?.[1]);

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("the MMS gateway over HTTP", () => {
  it("stores a SubmitReq durably, answers SubmitRsp with a MessageID, forwards it and reports delivery", async () => {
    const { gateway, sink } = await start();
    const answer = await submit(gateway, message(1));
    expect(answer.status).toBe(200);
    expect(statusCodeIn(answer.text)).toBe(1000);
    const messageId = messageIdIn(answer.text)!;
    expect(messageId).toMatch(/^[0-9a-f]{8}-1-[0-9a-f]{16}$/);
    expect(answer.text).toContain("<mm7:TransactionID");
    await until(() => sink.received.get(messageId) === 1, "the delivery");
    await until(() => sink.reports.length === 1, "the delivery report");
    expect(sink.reports[0]).toContain(`<MessageID>${messageId}</MessageID>`);
    expect(sink.reports[0]).toContain("<MMStatus>Retrieved</MMStatus>");
    await until(() => gateway.messages.messageState(1) === "done", "the ack");
    const status = await fetch(`${gateway.url}/mm7/messages/${messageId}`, {
      headers: { authorization: basicAuthorization("acme", "s3cret") },
    });
    expect(await status.json()).toEqual({ messageId, state: "Delivered" });
    // Another VASP cannot ask about it: to it, the MessageID names nothing.
    const stranger = await fetch(`${gateway.url}/mm7/messages/${messageId}`, {
      headers: { authorization: basicAuthorization("beta", "pw") },
    });
    expect(stranger.status).toBe(404);
    expect(await stranger.json()).toMatchObject({ state: "Unknown", statusCode: 2005 });
    const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
    expect(metrics).toContain('mm7_submissions_total{result="accepted",status="1000"} 1');
    expect(metrics).toContain('mms_deliveries_total{result="delivered"} 1');
    expect(metrics).toMatch(/spool_batch_records_count \d+/);
    expect(metrics).toContain('spool_queue_messages{state="queued"} 0');
  });

  it("with maxAttempts set low, a failing recipient's message is a dead letter with a Rejected report", async () => {
    const { gateway, sink } = await start({ failAll: true }, { maxAttempts: 3 });
    const messageId = messageIdIn((await submit(gateway, message(1))).text)!;
    await until(() => gateway.messages.messageState(1) === "dead", "the dead letter");
    expect(sink.stats().refused).toBe(3);
    expect(sink.received.size).toBe(0);
    await until(() => sink.reports.length === 1, "the report");
    expect(sink.reports[0]).toContain("<MMStatus>Rejected</MMStatus>");
    const status = await fetch(`${gateway.url}/mm7/messages/${messageId}`, {
      headers: { authorization: basicAuthorization("acme", "s3cret") },
    });
    expect(await status.json()).toEqual({
      messageId,
      state: "Failed",
      reason: "delivery attempts used up",
    });
    expect((await gateway.messages.deadLetters()).map((letter) => letter.seq)).toEqual([1]);
  });
});

describe("a message that dies without its handler seeing it", () => {
  it("a dead letter dying after another was purged still gets its Rejected report", async () => {
    const { gateway, sink } = await start({ failAll: true }, { maxAttempts: 1 });
    await submit(gateway, message(1));
    await until(() => sink.reports.length === 1, "the first dead letter's report");
    await until(() => gateway.messages.messageState(1) === "dead", "the first dead letter");
    await gateway.messages.purgeDeadLetter(1);
    const second = messageIdIn((await submit(gateway, message(2))).text)!;
    await until(() => sink.reports.length === 2, "the second dead letter's report");
    expect(sink.reports[1]).toContain(`<MessageID>${second}</MessageID>`);
    expect(sink.reports[1]).toContain("<MMStatus>Rejected</MMStatus>");
  });

  it("gets its Rejected delivery report from the sweep (its last attempt timed out)", async () => {
    // The recipient answers no delivery until the test is done: the forward's timeoutMs runs
    // out, its nack spends the last attempt and makes the message a dead letter; the handler
    // reports no transient failure, so only the sweep can report it. (A lease running out
    // mid-forward is what the options check now rules out: timeoutMs + 5 s <= leaseMs.)
    let answer = () => {};
    const hold = new Promise<void>((resolve) => (answer = resolve));
    const { gateway, sink } = await start(
      { hold },
      { maxAttempts: 1, delivery: { backoffBaseMs: 10, backoffMaxMs: 50, timeoutMs: 200 } },
    );
    // Closers run last first: the recipient answers before the gateway waits for its forwards.
    closers.push(async () => answer());
    const messageId = messageIdIn((await submit(gateway, message(1))).text)!;
    await until(() => sink.reports.length === 1, "the sweep's report");
    expect(sink.stats().delivered).toBe(0);
    expect(sink.reports[0]).toContain(`<MessageID>${messageId}</MessageID>`);
    expect(sink.reports[0]).toContain("<MMStatus>Rejected</MMStatus>");
    expect(gateway.messages.messageState(1)).toBe("dead");
  });
});

describe("delivery options that cannot work are refused at open, naming the option", () => {
  it.each([
    ["a forward that outlives its lease", { timeoutMs: 26_000 }, {}, /delivery\.timeoutMs/],
    ["the same with a short lease", { timeoutMs: 1_000 }, { leaseMs: 5_000 }, /timeoutMs/],
    ["no backoff", { backoffBaseMs: 0 }, {}, /delivery\.backoffBaseMs/],
    ["a backoff cap below its base", { backoffMaxMs: 100, backoffBaseMs: 500 }, {}, /backoffMaxMs/],
    [
      "a default expiry past the most",
      { expiryDefaultMs: 10, expiryMaxMs: 5 },
      {},
      /expiryDefault/,
    ],
    ["an expiry past a timer's reach", { expiryMaxMs: 2 ** 31 }, {}, /delivery\.expiryMaxMs/],
    ["no forwards at once", { concurrency: 0 }, {}, /delivery\.concurrency/],
    ["a breaker that never opens", { breakerFailureCount: 0 }, {}, /breakerFailureCount/],
    ["a breaker that never cools", { breakerCoolDownMs: Number.NaN }, {}, /breakerCoolDownMs/],
  ] as const)("%s", async (_, delivery, extra, name) => {
    const dir = await mkdtemp(path.join(tmpdir(), "mms-gateway-"));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const opening = openGateway({
      dir,
      vasps: [],
      recipientUrl: "http://127.0.0.1:9/",
      delivery,
      ...extra,
    });
    await expect(opening).rejects.toThrow(RangeError);
    await expect(opening).rejects.toThrow(name);
  });
});

describe("protocol handlers in worker threads (one synchronizer for all)", () => {
  // Two threads start through tsx (seconds on a loaded machine) before the gateway listens:
  // the timeout is a bound for such a machine, not a target.
  it("stores what two handler threads parsed, in one spool, and refuses what they refuse", async () => {
    const { gateway, sink } = await start({}, { handlerThreads: 2 });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, n) => submit(gateway, message(n))),
    );
    const ids = answers.map((answer) => messageIdIn(answer.text));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(new Set(ids).size).toBe(40);
    await until(() => ids.every((id) => sink.received.has(id!)), "every delivery");
    const bad = await post(gateway, "<env:Envelope><unclosed>", "text/xml");
    expect(bad.status).toBe(500);
    expect(statusCodeIn(bad.text)).toBe(4004);
    expect(gateway.messages.stats().records).toBe(40);
  }, 120_000);
});

describe("what the gateway refuses, with a SOAP fault and nothing stored", () => {
  const refusals: [
    string,
    (gateway: Gateway) => Promise<{ status: number; text: string }>,
    number,
    RegExp,
  ][] = [
    [
      "an unknown VASP",
      (gateway) => {
        const { contentType, body } = submissionBody(message(1));
        return post(gateway, body, contentType, basicAuthorization("mallory", "guess"));
      },
      4001,
      /unknown VASP/,
    ],
    [
      "malformed SOAP",
      (gateway) => post(gateway, "<env:Envelope><unclosed>", "text/xml"),
      4004,
      /XML not well-formed/,
    ],
    [
      "a DOCTYPE (external entities, entity expansion)",
      (gateway) =>
        post(
          gateway,
          '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
          "text/xml",
        ),
      4004,
      /DTD is not allowed/,
    ],
    [
      "a multipart body without its boundary",
      (gateway) => post(gateway, "no parts here", 'multipart/related; boundary="b"; start="<s>"'),
      2007,
      /no multipart boundary/,
    ],
    [
      "a body that is neither multipart/related nor XML",
      (gateway) => post(gateway, "hello", "text/plain"),
      2007,
      /expected multipart\/related or text\/xml/,
    ],
    [
      "more attachments than attachmentCountMax",
      (gateway) => {
        const attachments = Array.from({ length: 21 }, (_, n) => ({
          contentType: "text/plain",
          contentId: `a${n}`,
          bytes: Buffer.from("x"),
        }));
        const { contentType, body } = submissionBody(message(1, { attachments }));
        return post(gateway, body, contentType);
      },
      2004,
      /limit attachmentCountMax \(20\) exceeded/,
    ],
    [
      "a body over bodyByteSizeMax",
      (gateway) => {
        const big = { contentType: "image/jpeg", contentId: "big", bytes: Buffer.alloc(7 << 20) };
        const { contentType, body } = submissionBody(message(1, { attachments: [big] }));
        return post(gateway, body, contentType);
      },
      2004,
      /limit bodyByteSizeMax \(6291456\) exceeded/,
    ],
    [
      "a VASPID that is not the authenticated VASP",
      (gateway) => submit(gateway, message(1, { vaspId: "someone-else" })),
      4001,
      /VASPID someone-else is not the authenticated VASP acme/,
    ],
    [
      "a recipient with a line break in it (it would reach the forwarding headers)",
      (gateway) => {
        const xml = submissionBody(message(1, { attachments: [] }))
          .body.toString("utf8")
          .replace("<Number>447700900123</Number>", "<Number>4477&#13;&#10;X-Forged: 1</Number>");
        const envelope = xml.slice(xml.indexOf("<?xml"), xml.indexOf("</env:Envelope>") + 15);
        return post(gateway, envelope, "text/xml");
      },
      2002,
      /is not an address/,
    ],
    [
      "a recipient with a comma in it (it would read as two recipients)",
      (gateway) => submit(gateway, message(1, { recipients: ["4477,4478"] })),
      2002,
      /is not an address/,
    ],
    [
      "a SubmitReq without recipients",
      (gateway) => submit(gateway, message(1, { recipients: [] })),
      2002,
      /no recipients/,
    ],
  ];
  it.each(refusals)("%s", async (_, send, statusCode, reason) => {
    const { gateway } = await start();
    const answer = await send(gateway);
    expect(answer.status === 500 || answer.status === 401).toBe(true);
    expect(answer.text).toContain("<env:Fault>");
    expect(statusCodeIn(answer.text)).toBe(statusCode);
    expect(answer.text).toMatch(reason);
    expect(gateway.messages.stats().records).toBe(0);
  });
});

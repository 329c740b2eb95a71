import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { openGateway } from "../src/Gateway.js";
import { openSink } from "../src/Sink.js";
import { basicAuthorization, submissionBody } from "../src/Submission.js";

/** Half of the outage refuses connections, the other half answers 503: 60 s in all. */
const OUTAGE_HALF_MS = 30_000;
const MESSAGES_PER_PHASE = 40;

async function until(condition: () => boolean | Promise<boolean>, what: string, ms: number) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a recipient down for 60 s", () => {
  it("loses nothing: every message accepted before and during the outage is delivered exactly once, none Failed", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mms-outage-"));
    const sink = await openSink();
    const authorization = basicAuthorization("acme", "s3cret");
    const gateway = await openGateway({
      dir,
      vasps: [{ vaspId: "acme", password: "s3cret", reportUrl: sink.reportUrl }],
      recipientUrl: sink.deliverUrl,
      // A cap of seconds (not the 5-minute default) and a short cool-down, so the test ends
      // within seconds of the recipient's return; the schedule's shape is the default's.
      delivery: { backoffBaseMs: 100, backoffMaxMs: 3_000, breakerCoolDownMs: 3_000 },
    });
    const accepted: string[] = [];
    const submitSome = async (phase: string) => {
      for (let n = 0; n < MESSAGES_PER_PHASE; n++) {
        const { contentType, body } = submissionBody({
          transactionId: `${phase}-${n}`,
          vaspId: "acme",
          recipients: ["447700900123"],
          deliveryReport: true,
          attachments: [{ contentType: "text/plain", contentId: "t", bytes: Buffer.from(phase) }],
        });
        const response = await fetch(`${gateway.url}/mm7`, {
          method: "POST",
          headers: { "content-type": contentType, authorization },
          body,
        });
        const text = await response.text();
        expect(response.status).toBe(200);
        accepted.push(/<MessageID>([^<]+)<\/MessageID>/.exec(text)![1]!);
      }
    };
    const statusOf = async (messageId: string) => {
      const response = await fetch(`${gateway.url}/mm7/messages/${messageId}`, {
        headers: { authorization },
      });
      return (await response.json()) as { state: string; attempts?: number };
    };
    try {
      await submitSome("before");
      await until(
        () => accepted.every((id) => sink.received.has(id)),
        "the first deliveries",
        30_000,
      );

      await sink.refuseConnections();
      await submitSome("refused");
      // The outage is the scenario; nothing is decided by these waits.
      await pause(OUTAGE_HALF_MS);
      const firstInOutage = await statusOf(accepted[MESSAGES_PER_PHASE]!);
      expect(firstInOutage.state).toMatch(/Retrying|Delivering|Queued/);

      sink.answerWith({ status: 503 });
      await sink.acceptConnections();
      await submitSome("unavailable");
      await pause(OUTAGE_HALF_MS);
      expect(sink.stats().refused).toBeGreaterThan(0);
      sink.answerWith(null);

      await until(
        () => accepted.every((id) => sink.received.has(id)),
        "every accepted message delivered",
        60_000,
      );
      const states = await Promise.all(accepted.map(statusOf));
      await until(
        async () =>
          (await Promise.all(accepted.map(statusOf))).every((s) => s.state === "Delivered"),
        "every message Delivered",
        30_000,
      );
      expect(states.filter((state) => state.state === "Failed")).toEqual([]);
      expect(accepted.length).toBe(3 * MESSAGES_PER_PHASE);
      expect(new Set(accepted).size).toBe(accepted.length);
      expect([...sink.received.values()].every((times) => times === 1)).toBe(true);
      expect(sink.stats().delivered).toBe(accepted.length);
      // Delivered on attempt 6 or later: past where the old 5-attempt limit failed messages.
      const attempts = accepted.map((id) => Number(sink.headers.get(id)!["x-mms-attempt"]));
      expect(Math.max(...attempts)).toBeGreaterThan(5);
      console.info(
        `outage: ${accepted.length} accepted, ${sink.stats().delivered} delivered, ` +
          `${sink.stats().refused} answered 503, attempts at delivery up to ${Math.max(...attempts)}`,
      );
      await until(() => sink.reports.length === accepted.length, "every report", 30_000);
      expect(
        sink.reports.every((report) => report.includes("<MMStatus>Retrieved</MMStatus>")),
      ).toBe(true);
    } finally {
      await gateway.close();
      await sink.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

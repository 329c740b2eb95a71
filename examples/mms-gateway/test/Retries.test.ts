import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { backoffMs, RETRY_AFTER_MS_MAX, retryAfterMsOf, retryDelayMs } from "../src/Backoff.js";
import { CircuitBreakers } from "../src/CircuitBreaker.js";
import { expiresAtMs, expiryDateMs } from "../src/Expiry.js";
import { FORWARDED_HEADER_BYTES_MAX, forwardRequest, headerText } from "../src/Forward.js";
import { Mm7Fault } from "../src/Mm7.js";
import { Outcomes } from "../src/Outcomes.js";
import { decodeStoredMessage, encodeStoredMessage } from "../src/StoredMessage.js";

describe("the backoff schedule", () => {
  const options = { backoffBaseMs: 100, backoffMaxMs: 5_000, random: () => 0.999 };

  it("doubles its ceiling per failure up to backoffMaxMs, drawing below it", () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8].map((failure) => backoffMs(options, failure));
    expect(ceilings).toEqual([99, 199, 399, 799, 1598, 3196, 4995, 4995]);
    expect(backoffMs({ ...options, random: () => 0 }, 8)).toBe(0);
    expect(backoffMs(options, 65_535)).toBe(4995);
  });

  it("waits at least a Retry-After, up to an hour", () => {
    expect(backoffMs(options, 1, 30_000)).toBe(30_000);
    expect(backoffMs(options, 8, 10)).toBe(4995);
    expect(backoffMs(options, 1, 10 * RETRY_AFTER_MS_MAX)).toBe(RETRY_AFTER_MS_MAX);
  });

  it("never waits past the expiry, and spreads the last half of the attempts but two up to it", () => {
    const schedule = { wantedMs: 500, leftMs: 100_000, attemptsMax: 65_535 };
    expect(retryDelayMs({ ...schedule, attempt: 3 })).toBe(500);
    expect(retryDelayMs({ ...schedule, attempt: 3, leftMs: 100 })).toBe(100);
    expect(retryDelayMs({ ...schedule, attempt: 3, leftMs: -5 })).toBe(0);
    // 65,535 - 65,525 = 10 attempts left for 100 s, two kept for leases that run out: one every
    // 100 / 8 s at least.
    expect(retryDelayMs({ ...schedule, attempt: 65_525 })).toBe(12_500);
    // Three left: wait out the expiry, one spare for a lost lease and one for the expiry's own.
    expect(retryDelayMs({ ...schedule, attempt: 65_532 })).toBe(100_000);
    expect(retryDelayMs({ ...schedule, attempt: 65_534 })).toBe(100_000);
    expect(retryDelayMs({ ...schedule, attempt: 32_767 })).toBe(500);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    const nowMs = Date.parse("2026-12-05T08:00:00Z");
    expect(retryAfterMsOf("120", nowMs)).toBe(120_000);
    expect(retryAfterMsOf("Sat, 05 Dec 2026 08:01:00 GMT", nowMs)).toBe(60_000);
    expect(retryAfterMsOf("Sat, 05 Dec 2026 07:00:00 GMT", nowMs)).toBe(0);
    expect(retryAfterMsOf("soon", nowMs)).toBeUndefined();
    expect(retryAfterMsOf(null, nowMs)).toBeUndefined();
  });
});

describe("a host's circuit", () => {
  const host = "http://recipient:80";
  const breakers = () =>
    new CircuitBreakers({ breakerFailureCount: 3, breakerCoolDownMs: 1000, random: () => 0 });

  it("opens after breakerFailureCount transient failures in a row, turning deliveries back until the cool-down ends", () => {
    const circuits = breakers();
    for (let n = 0; n < 2; n++) circuits.record(host, "transient", 0, false);
    expect(circuits.admit(host, 0)).toEqual({ admitted: true, probe: false });
    circuits.record(host, "transient", 10, false);
    expect(circuits.admit(host, 500)).toEqual({ admitted: false, retryAtMs: 1010 });
    expect(circuits.admit("http://other:80", 500)).toEqual({ admitted: true, probe: false });
  });

  it("lets one probe through when half-open; its failure reopens, its success closes", () => {
    const circuits = breakers();
    for (let n = 0; n < 3; n++) circuits.record(host, "transient", 0, false);
    expect(circuits.admit(host, 1000)).toEqual({ admitted: true, probe: true });
    expect(circuits.admit(host, 1001)).toEqual({ admitted: false, retryAtMs: 1101 });
    circuits.record(host, "transient", 1100, true);
    expect(circuits.admit(host, 1500)).toEqual({ admitted: false, retryAtMs: 2100 });
    expect(circuits.admit(host, 2100)).toEqual({ admitted: true, probe: true });
    circuits.record(host, "answered", 2200, true);
    expect(circuits.isOpen(host)).toBe(false);
    expect(circuits.admit(host, 2200)).toEqual({ admitted: true, probe: false });
  });

  it("is not opened by failures that an answer interrupted", () => {
    const circuits = breakers();
    circuits.record(host, "transient", 0, false);
    circuits.record(host, "transient", 0, false);
    circuits.record(host, "answered", 0, false);
    circuits.record(host, "transient", 0, false);
    expect(circuits.isOpen(host)).toBe(false);
  });
});

describe("ExpiryDate", () => {
  const receivedAtMs = Date.parse("2026-01-31T10:00:00Z");

  it.each([
    ["PT2H", "2026-01-31T12:00:00.000Z"],
    ["P1D", "2026-02-01T10:00:00.000Z"],
    ["P1M", "2026-02-28T10:00:00.000Z"],
    ["P1Y1M", "2027-02-28T10:00:00.000Z"],
    ["PT0.5S", "2026-01-31T10:00:00.500Z"],
    ["2026-02-01T00:00:00Z", "2026-02-01T00:00:00.000Z"],
    ["2026-02-01T01:00:00+02:00", "2026-01-31T23:00:00.000Z"],
    ["2026-02-01T00:00:00", "2026-02-01T00:00:00.000Z"],
    ["2026-02-01T24:00:00Z", "2026-02-02T00:00:00.000Z"],
    ["2026-02-01T00:00:00-14:00", "2026-02-01T14:00:00.000Z"],
  ])("%s names %s", (text, iso) => {
    expect(new Date(expiryDateMs(text, receivedAtMs)).toISOString()).toBe(iso);
  });

  it.each([
    ["P", /neither/],
    ["PT", /neither/],
    ["P1DT", /neither/],
    ["-P1D", /already past/],
    ["2026-02-30T00:00:00Z", /neither/],
    ["2026-02-01T00:00:00+99:99", /neither/],
    ["2026-02-01T00:00:00+14:01", /neither/],
    ["2026-02-01T24:00:01Z", /neither/],
    ["2026-01-31T09:00:00Z", /already past/],
    ["1 day", /neither/],
  ])("%s is refused with 4004", (text, reason) => {
    expect(() => expiryDateMs(text, receivedAtMs)).toThrow(Mm7Fault);
    expect(() => expiryDateMs(text, receivedAtMs)).toThrow(reason);
    try {
      expiryDateMs(text, receivedAtMs);
    } catch (error) {
      expect((error as Mm7Fault).statusCode).toBe(4004);
    }
  });

  it("defaults to expiryDefaultMs after receipt, and never passes expiryMaxMs", () => {
    const options = { expiryDefaultMs: 1000, expiryMaxMs: 5000 };
    expect(expiresAtMs({ receivedAtMs: 0, expiresAtMs: null }, options)).toBe(1000);
    expect(expiresAtMs({ receivedAtMs: 0, expiresAtMs: 3000 }, options)).toBe(3000);
    expect(expiresAtMs({ receivedAtMs: 0, expiresAtMs: 9000 }, options)).toBe(5000);
  });
});

describe("stored messages written before expiry was kept", () => {
  it("decode with no expiry, priority or linked id (the defaults apply)", () => {
    const current = encodeStoredMessage({
      vaspId: "acme",
      vasId: null,
      senderAddress: null,
      recipients: ["1"],
      subject: null,
      deliveryReport: false,
      transactionId: "t",
      namespace: "ns",
      receivedAtMs: 5,
      expiresAtMs: 10,
      priority: "High",
      linkedId: null,
      parts: [],
    });
    // The same record as the previous version wrote it: a header without the three fields.
    const headerSize = Buffer.from(current).readUInt32LE(0);
    const header = JSON.parse(Buffer.from(current).toString("utf8", 4, 4 + headerSize));
    delete header.expiresAtMs;
    delete header.priority;
    delete header.linkedId;
    const oldHeader = Buffer.from(JSON.stringify(header));
    const old = Buffer.concat([Buffer.alloc(4), oldHeader]);
    old.writeUInt32LE(oldHeader.byteLength, 0);
    const decoded = decodeStoredMessage(old);
    expect(decoded).toMatchObject({ expiresAtMs: null, priority: null, linkedId: null });
    expect(decodeStoredMessage(current)).toMatchObject({ expiresAtMs: 10, priority: "High" });
  });
});

describe("the journal of failures", () => {
  it("keeps failures across reopening, and drops a torn last line", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mms-outcomes-"));
    try {
      const file = path.join(dir, "failed.jsonl");
      const journal = await Outcomes.open(file);
      await Promise.all([
        journal.record({ seq: 1, mmStatus: "Rejected", reason: "refused", atMs: 1 }),
        journal.record({ seq: 2, mmStatus: "Expired", reason: "expired", atMs: 2 }),
      ]);
      await journal.close();
      await writeFile(file, `${await readFile(file, "utf8")}{"seq":3,"mmSt`);
      const reopened = await Outcomes.open(file);
      expect(reopened.get(1)?.reason).toBe("refused");
      expect(reopened.get(2)?.mmStatus).toBe("Expired");
      expect(reopened.get(3)).toBeUndefined();
      await reopened.close();
      expect((await readFile(file, "utf8")).split("\n").length).toBe(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("finishes a line that a short write left in part, so a recorded failure is whole on disk", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mms-outcomes-"));
    const file = path.join(dir, "failed.jsonl");
    const probe = await open(path.join(dir, "probe"), "w");
    const prototype = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => unknown };
    await probe.close();
    const write = prototype.write;
    // The next write takes only its first 10 bytes, as a write on a filling disk may.
    const spy = vi.spyOn(prototype, "write").mockImplementationOnce(function (
      this: unknown,
      data: unknown,
      ...rest: unknown[]
    ) {
      const bytes = typeof data === "string" ? Buffer.from(data) : (data as Buffer);
      const offset = typeof rest[0] === "number" ? rest[0] : 0;
      return write.call(this, bytes, offset, 10);
    });
    try {
      const journal = await Outcomes.open(file);
      await journal.record({ seq: 1, mmStatus: "Rejected", reason: "refused", atMs: 1 });
      await journal.close();
      expect(spy).toHaveBeenCalled();
      const reopened = await Outcomes.open(file);
      expect(reopened.get(1)?.reason).toBe("refused");
      await reopened.close();
    } finally {
      spy.mockRestore();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps the failures of seqs the spool reached, asking about a few seqs only", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mms-outcomes-"));
    try {
      const file = path.join(dir, "failed.jsonl");
      const lines = Array.from({ length: 1000 }, (_, at) => {
        const failure = { seq: at + 1, mmStatus: "Rejected", reason: "r", atMs: at };
        return `${JSON.stringify(failure)}\n`;
      });
      await writeFile(file, lines.join(""));
      // A spool recreated beside the journal, which reached seq 600 (a stream's answer awaits).
      const asked: number[] = [];
      const reached = async (seq: number) => {
        asked.push(seq);
        return seq <= 600;
      };
      const journal = await Outcomes.open(file, 1000, reached);
      expect([1, 600, 601, 1000].map((seq) => journal.get(seq) !== undefined)).toEqual([
        true,
        true,
        false,
        false,
      ]);
      // Bisection: ceil(log2(1001)) questions at most, not one a failure.
      expect(asked.length).toBeLessThanOrEqual(10);
      await journal.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rewrites itself to the failures it keeps once it holds twice as many", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mms-outcomes-"));
    try {
      const file = path.join(dir, "failed.jsonl");
      const journal = await Outcomes.open(file, 3);
      for (let seq = 1; seq <= 10; seq++) {
        await journal.record({ seq, mmStatus: "Rejected", reason: "r", atMs: seq });
      }
      await journal.close();
      const lines = (await readFile(file, "utf8")).trim().split("\n");
      expect(lines.length).toBeLessThanOrEqual(6);
      const reopened = await Outcomes.open(file, 3);
      expect([1, 7, 8, 9, 10].map((seq) => reopened.get(seq) !== undefined)).toEqual([
        false,
        false,
        true,
        true,
        true,
      ]);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a forward's headers", () => {
  it("stay within FORWARDED_HEADER_BYTES_MAX with every envelope field at its longest", () => {
    const longest = "🎉".repeat(5000);
    const { headers, body } = forwardRequest(
      {
        vaspId: longest,
        vasId: longest,
        senderAddress: longest,
        recipients: Array.from({ length: 100 }, (_, n) => `${n}`.padStart(254, "9")),
        subject: longest,
        deliveryReport: true,
        transactionId: longest,
        namespace: "ns",
        receivedAtMs: 0,
        expiresAtMs: null,
        priority: longest,
        linkedId: longest,
        parts: [],
      },
      `gw-${"0".repeat(64)}-4294967295-${"f".repeat(64)}`,
      65_535,
    );
    const bytes = Object.entries(headers).reduce(
      (sum, [name, value]) => sum + name.length + value.length + 4,
      0,
    );
    expect(bytes).toBeLessThanOrEqual(FORWARDED_HEADER_BYTES_MAX);
    expect(headers["x-mms-recipient-count"]).toBe("100");
    expect(Buffer.from(body).toString("ascii")).toContain(`${"9".repeat(253)}0\r\n`);
  });
});

describe("header text", () => {
  it("passes printable ASCII, and encodes anything else as RFC 2047 words of at most 75 characters", () => {
    expect(headerText("Hello, world")).toBe("Hello, world");
    expect(headerText("a=?b")).toBe("=?UTF-8?B?YT0/Yg==?=");
    const long = headerText("é".repeat(100));
    const words = long.split(" ");
    expect(words.every((word) => word.length <= 75)).toBe(true);
    const decoded = Buffer.concat(words.map((w) => Buffer.from(w.slice(10, -2), "base64")));
    expect(decoded.toString("utf8")).toBe("é".repeat(100));
  });

  it("cuts a field to 1,000 characters as encoded, whole characters only", () => {
    const value = headerText("🎉".repeat(1000));
    expect(value.length).toBeLessThanOrEqual(1000);
    const words = value.split(" ");
    const decoded = Buffer.concat(words.map((w) => Buffer.from(w.slice(10, -2), "base64")));
    expect(decoded.toString("utf8")).toBe("🎉".repeat(decoded.byteLength / 4));
    expect(decoded.byteLength).toBeGreaterThan(0);
    expect(headerText("x".repeat(5000))).toBe("x".repeat(1000));
  });
});

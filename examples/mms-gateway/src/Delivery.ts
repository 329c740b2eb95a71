/**
 * Store-and-forward's forward half: consumers take messages from the spool and POST each to the
 * recipient endpoint; a 2xx acks it, anything else nacks it with exponential backoff, and after
 * `maxAttempts` it is a dead letter. A message that asked for a delivery report gets one, queued
 * durably in a second spool and posted to its VASP the same way.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import type { Consumer, Lease, Spool } from "@spool/actors";
import { writeFileDurably } from "./DurableFile.js";
import type { Metrics } from "./Metrics.js";
import { deliveryReportRequest, type MmStatus } from "./Mm7.js";
import { decodeStoredMessage, type StoredMessage } from "./StoredMessage.js";
import type { Vasp } from "./Vasps.js";

/** How forwarding behaves. @example { concurrency: 16, maxAttempts: 5 } */
export interface DeliveryOptions {
  /** Forwards in flight at once. */
  readonly concurrency: number;
  /** The first retry waits this long; each next one twice as long, up to `backoffMaxMs`. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** One forwarding attempt may take this long before it counts as failed. */
  readonly timeoutMs: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  concurrency: 16,
  backoffBaseMs: 200,
  backoffMaxMs: 60_000,
  timeoutMs: 10_000,
};

/** What forwarding works with. */
export interface DeliveryInput {
  /** The gateway's directory (the record of reported dead letters lives there). */
  readonly dir: string;
  readonly messages: Spool;
  readonly reports: Spool;
  readonly recipientUrl: string;
  readonly vasps: readonly Vasp[];
  readonly options: DeliveryOptions;
  readonly metrics: Metrics;
  readonly messageIdOf: (seq: number, vaspId: string) => string;
}

/** A delivery report waiting to be posted to a VASP (one record in the reports spool). */
interface QueuedReport {
  readonly reportUrl: string;
  readonly body: string;
}

/** The delay before retry number `attempt` (1 after the first failure). */
export function backoffMs(options: DeliveryOptions, attempt: number): number {
  return Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** (attempt - 1));
}

/** How often dead letters are checked for a missing report. */
const SWEEP_MS = 1000;

/**
 * The dead letters whose Rejected report is queued, kept durably in a small file. A message can
 * become a dead letter without its handler seeing the last failure (a crash during the last
 * attempt, or a last lease that expired): the sweep reports those.
 */
class ReportedDeadLetters {
  readonly #file: string;
  readonly #seqs: Set<number>;
  #saving: Promise<void> = Promise.resolve();

  private constructor(file: string, seqs: Set<number>) {
    this.#file = file;
    this.#seqs = seqs;
  }

  static async open(file: string): Promise<ReportedDeadLetters> {
    const text = await readFile(file, "utf8").catch(() => "[]");
    return new ReportedDeadLetters(file, new Set(JSON.parse(text) as number[]));
  }

  get size(): number {
    return this.#seqs.size;
  }

  has(seq: number): boolean {
    return this.#seqs.has(seq);
  }

  /** Adds `seq`; resolves once the file says so durably. */
  add(seq: number): Promise<void> {
    this.#seqs.add(seq);
    const snapshot = JSON.stringify([...this.#seqs]);
    this.#saving = this.#saving.then(() => writeFileDurably(this.#file, snapshot));
    return this.#saving;
  }
}

/** The forwarding and report consumers, running until stopped. */
export class Delivery {
  readonly #messages: Consumer;
  readonly #reports: Consumer;
  readonly #sweep: NodeJS.Timeout;
  #sweeping: Promise<void> = Promise.resolve();

  /** Starts forwarding; `dir` keeps the record of reported dead letters. */
  static async start(input: DeliveryInput): Promise<Delivery> {
    const reported = await ReportedDeadLetters.open(path.join(input.dir, "reported-dead.json"));
    return new Delivery(input, reported);
  }

  private constructor(input: DeliveryInput, reported: ReportedDeadLetters) {
    const { messages, reports, options, metrics } = input;
    const reportWriter = reports.writer("delivery-reports");
    const maxAttempts = messages.config.maxAttempts;
    const report = async (message: StoredMessage, seq: number, status: MmStatus, why: string) => {
      const vasp = input.vasps.find((candidate) => candidate.vaspId === message.vaspId);
      if (!message.deliveryReport || vasp?.reportUrl == null) return;
      for (const recipient of message.recipients) {
        const body = deliveryReportRequest({
          namespace: message.namespace,
          transactionId: `dr-${input.messageIdOf(seq, message.vaspId)}`,
          messageId: input.messageIdOf(seq, message.vaspId),
          recipient,
          sender: message.senderAddress,
          dateIso: new Date().toISOString(),
          mmStatus: status,
          statusText: why,
        });
        const queued: QueuedReport = { reportUrl: vasp.reportUrl, body };
        await reportWriter.append(JSON.stringify(queued));
      }
    };
    this.#messages = messages.consume(
      async (lease: Lease) => {
        const message = decodeStoredMessage(lease.payload);
        try {
          await forward(
            input.recipientUrl,
            message,
            input.messageIdOf(lease.seq, message.vaspId),
            lease,
            options,
          );
        } catch (error) {
          const last = lease.attempt >= maxAttempts;
          metrics.deliveries.inc({ result: last ? "dead" : "retry" });
          // The report is durable before the nack that makes the message dead.
          if (last) {
            await report(message, lease.seq, "Rejected", (error as Error).message);
            await reported.add(lease.seq);
          }
          throw error;
        }
        // Durable before the ack: a crash in between reports twice, never not at all.
        await report(message, lease.seq, "Retrieved", "delivered");
        metrics.deliveries.inc({ result: "delivered" });
      },
      {
        concurrency: options.concurrency,
        retryAfterMs: (lease) => backoffMs(options, lease.attempt),
      },
    );
    this.#reports = reports.consume(
      async (lease) => {
        const queued = JSON.parse(new TextDecoder().decode(lease.payload)) as QueuedReport;
        await post(
          queued.reportUrl,
          queued.body,
          { "content-type": 'text/xml; charset="utf-8"' },
          options,
        );
        metrics.reports.inc();
      },
      { concurrency: 4, retryAfterMs: (lease) => backoffMs(options, lease.attempt) },
    );
    const sweep = async (): Promise<void> => {
      // Reading the letters costs a read each: only when there are more than were reported.
      if (messages.stats().messages.dead <= reported.size) return;
      for (const letter of await messages.deadLetters()) {
        if (reported.has(letter.seq)) continue;
        const message = decodeStoredMessage(letter.payload);
        await report(message, letter.seq, "Rejected", "delivery attempts used up");
        await reported.add(letter.seq);
      }
    };
    const run = () => {
      this.#sweeping = this.#sweeping.then(sweep).catch(() => undefined);
    };
    this.#sweep = setInterval(run, SWEEP_MS);
    this.#sweep.unref();
    run();
  }

  /** Stops taking; forwards in flight finish (and are acked or retried). */
  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    await this.#sweeping;
    await Promise.all([this.#messages.stop(), this.#reports.stop()]);
  }
}

/**
 * A boundary for one forwarded body: random, and checked against every part, since a part that
 * contained it would end early at the recipient and let its sender forge parts after it.
 */
function boundaryFor(message: StoredMessage): string {
  for (;;) {
    const boundary = `spool-mms-${randomBytes(12).toString("hex")}`;
    const marker = Buffer.from(`--${boundary}`);
    if (message.parts.every((part) => Buffer.from(part.bytes).indexOf(marker) < 0)) return boundary;
  }
}

/** POSTs a message to the recipient endpoint as multipart/mixed; throws unless 2xx. */
async function forward(
  url: string,
  message: StoredMessage,
  messageId: string,
  lease: Lease,
  options: DeliveryOptions,
): Promise<void> {
  const boundary = boundaryFor(message);
  const chunks: Uint8Array[] = [];
  for (const part of message.parts) {
    const headers =
      `--${boundary}\r\nContent-Type: ${part.contentType}\r\n` +
      (part.contentId === null ? "" : `Content-ID: <${part.contentId}>\r\n`) +
      `Content-Length: ${part.bytes.byteLength}\r\n\r\n`;
    chunks.push(Buffer.from(headers, "utf8"), part.bytes, Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  await post(
    url,
    Buffer.concat(chunks),
    {
      "content-type": `multipart/mixed; boundary="${boundary}"`,
      "x-mms-message-id": messageId,
      "x-mms-vasp-id": message.vaspId,
      "x-mms-recipients": message.recipients.join(","),
      "x-mms-attempt": String(lease.attempt),
    },
    options,
  );
}

async function post(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string>,
  options: DeliveryOptions,
): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    body,
    headers,
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  // The body is drained so the connection can be reused.
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
}

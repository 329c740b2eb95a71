/**
 * Store-and-forward's forward half: consumers take messages from the spool and POST each to the
 * recipient endpoint (`Forward.ts`). A 2xx acks it. A transient failure (connection error,
 * timeout, 408, 429, 5xx) nacks it for a retry after a jittered exponential backoff
 * (`Backoff.ts`), as long as the message has not expired (`Expiry.ts`); a host failing again and
 * again has its circuit opened (`CircuitBreaker.ts`). A permanent refusal (any other 4xx) or the
 * expiry fails the message: the failure is recorded durably (`Outcomes.ts`), then the message is
 * acked. A message that asked for a delivery report gets one (Retrieved, Rejected or Expired),
 * queued durably in a second spool and posted to its VASP the same way.
 */
import * as path from "node:path";
import type { Consumer, Lease, MessageState } from "@spool/actors";
import { match } from "ts-pattern";
import { type BackoffOptions, backoffMs, retryDelayMs } from "./Backoff.js";
import { type BreakerOptions, CircuitBreakers } from "./CircuitBreaker.js";
import { ReportedDeadLetters } from "./DeadLetters.js";
import { type ExpiryOptions, expiresAtMs } from "./Expiry.js";
import { type AttemptResult, attemptPost, forwardRequest } from "./Forward.js";
import type { GatewaySpool } from "./GatewaySpool.js";
import type { Metrics } from "./Metrics.js";
import { deliveryReportRequest, type MmStatus } from "./Mm7.js";
import { FAILURES_KEPT_MAX, type Failure, Outcomes } from "./Outcomes.js";
import { decodeStoredMessage, type StoredMessage } from "./StoredMessage.js";
import type { Vasp } from "./Vasps.js";

/** How forwarding behaves. @example { ...DEFAULT_DELIVERY, backoffMaxMs: 60_000 } */
export interface DeliveryOptions extends BackoffOptions, BreakerOptions, ExpiryOptions {
  /** Forwards in flight at once. */
  readonly concurrency: number;
  /** One forwarding attempt may take this long before it counts as failed (transient). */
  readonly timeoutMs: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  concurrency: 16,
  // 500 ms, doubling to 5 minutes (after 10 failures): a blip costs half a second, an outage
  // of hours costs one attempt per message every 2.5 minutes on average.
  backoffBaseMs: 500,
  backoffMaxMs: 5 * 60 * 1000,
  timeoutMs: 10_000,
  // 24 hours: a day-long outage of the recipient loses nothing; MMSCs commonly keep 1-3 days.
  expiryDefaultMs: 24 * 60 * 60 * 1000,
  // 7 days: what a VASP's ExpiryDate may ask for at most, so the spool is not held for months.
  expiryMaxMs: 7 * 24 * 60 * 60 * 1000,
  // 5 transient failures in a row: more than a blip, and few handlers' timeouts spent on it.
  breakerFailureCount: 5,
  // 30 s: a restarting recipient is back within it; one probe per 30 s costs a dead one nothing.
  breakerCoolDownMs: 30_000,
  random: Math.random,
};

/**
 * The spool's `maxAttempts` for messages and reports: the most an index entry can count
 * (attempts are a u16 there). Every lease counts, those an open circuit hands back included (one
 * per `breakerCoolDownMs`, 30 s: 20,160 in the 7 days of `expiryMaxMs`), so with the defaults the
 * expiry always comes first; `#retryDelayMs` keeps it so under any timings.
 */
export const ATTEMPTS_MAX = 0xffff;

/** Report posts in flight at once: reports are small, and VASPs few. */
export const REPORT_CONCURRENCY = 4;

/**
 * What a lease must leave after a forward's `timeoutMs`, 5 s: the handler still queues the
 * report and flushes the journal before the ack, a datasync or two that a loaded disk can take
 * seconds over. A lease running out mid-POST would hand the message to a second forward.
 */
export const LEASE_MARGIN_MS = 5_000;

/**
 * Forwards in flight at most, 1,024: each holds a socket and two descriptors are kept per
 * forward from the MM7 port (`Gateway.ts`), so more would starve the front door.
 */
const CONCURRENCY_MAX = 1024;

/** The longest wait a timer takes (2^31 - 1 ms, about 24.8 days); longer fire at once. */
const TIMER_MS_MAX = 2 ** 31 - 1;

/**
 * Refuses delivery options that cannot work, with a RangeError naming the option: a forward
 * that outlives its lease (`leaseMs`, the messages spool's), backoffs or expiries out of order.
 */
export function checkDeliveryOptions(options: DeliveryOptions, leaseMs: number): void {
  const whole = (name: keyof DeliveryOptions, min: number, max = TIMER_MS_MAX, why = "") => {
    const value = options[name];
    if (!(Number.isInteger(value) && (value as number) >= min && (value as number) <= max)) {
      throw new RangeError(`delivery.${name} must be a whole number from ${min} to ${max}${why}`);
    }
  };
  whole("concurrency", 1, CONCURRENCY_MAX);
  const leaseLeft = ` (leaseMs ${leaseMs} less ${LEASE_MARGIN_MS} ms for the report and journal)`;
  whole("timeoutMs", 1, leaseMs - LEASE_MARGIN_MS, leaseLeft);
  whole("backoffBaseMs", 1);
  whole("backoffMaxMs", options.backoffBaseMs);
  whole("expiryMaxMs", 1);
  whole("expiryDefaultMs", 1, options.expiryMaxMs);
  whole("breakerFailureCount", 1, ATTEMPTS_MAX);
  whole("breakerCoolDownMs", 1);
  if (typeof options.random !== "function") {
    throw new RangeError("delivery.random must be a function returning a number in [0, 1)");
  }
}

/**
 * Retrying messages whose last error is kept for the status query, 100,000: the queue's
 * in-flight retries of a busy gateway; past that the oldest note is forgotten (its message
 * still reads Retrying, without the detail).
 */
const RETRY_NOTES_MAX = 100_000;

/**
 * Delivered messages whose Retrieved report could not be queued yet, 100,000: remembered so a
 * retry of the lease only retries the report, never the forward. Past the bound the oldest is
 * forgotten, and its message forwarded once more (twice delivered, never lost): the reports
 * spool refusing that many appends means its disk is failing.
 */
const DELIVERED_UNREPORTED_MAX = 100_000;

/** What forwarding works with. */
export interface DeliveryInput {
  /** The gateway's directory (the journal of failures and reported dead letters live there). */
  readonly dir: string;
  readonly messages: GatewaySpool;
  readonly reports: GatewaySpool;
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
  /** When it was queued; absent in reports queued before it was kept (they never expire). */
  readonly queuedAtMs?: number;
}

/** A retry the handler asks for: the consumer nacks the lease with this delay. */
class RetryLater extends Error {
  readonly delayMs: number;
  constructor(reason: string, delayMs: number) {
    super(reason);
    this.delayMs = delayMs;
  }
}

/** Why a message is retrying: for the status query. */
interface RetryNote {
  readonly lastError: string;
  readonly attempts: number;
  readonly nextAttemptAtMs: number;
}

/** What the status query adds to a message's state. */
export type DeliveryDetail =
  | { readonly state: "Failed"; readonly reason: string; readonly failedAt?: string }
  | { readonly lastError: string; readonly attempts: number; readonly nextAttemptAt: string }
  | Record<string, never>;

/** The forwarding and report consumers, running until stopped. */
export class Delivery {
  readonly #input: DeliveryInput;
  readonly #outcomes: Outcomes;
  readonly #reported: ReportedDeadLetters;
  readonly #breakers: CircuitBreakers;
  readonly #notes = new Map<number, RetryNote>();
  readonly #deliveredUnreported = new Set<number>();
  readonly #reportWriter;
  readonly #messages: Consumer;
  readonly #reports: Consumer;

  /** Starts forwarding; `dir` keeps the journal of failures and of reported dead letters. */
  static async start(input: DeliveryInput): Promise<Delivery> {
    // A failure whose seq the spool has not reached is another spool's (messages/ recreated):
    // dropped, else the status query would call a new message under that seq Failed.
    const outcomes = await Outcomes.open(
      path.join(input.dir, "failed.jsonl"),
      FAILURES_KEPT_MAX,
      async (seq) => (await input.messages.messageState(seq)) !== "unknown",
    );
    const reported = await ReportedDeadLetters.open(path.join(input.dir, "reported-dead.json"));
    return new Delivery(input, outcomes, reported);
  }

  private constructor(input: DeliveryInput, outcomes: Outcomes, reported: ReportedDeadLetters) {
    this.#input = input;
    this.#outcomes = outcomes;
    this.#reported = reported;
    this.#breakers = new CircuitBreakers(input.options);
    this.#reportWriter = input.reports.writer("delivery-reports");
    const retryAfterMs = (lease: Lease, error: unknown) =>
      error instanceof RetryLater ? error.delayMs : backoffMs(input.options, lease.attempt);
    this.#messages = input.messages.consume((lease) => this.#deliver(lease), {
      concurrency: input.options.concurrency,
      retryAfterMs,
    });
    this.#reports = input.reports.consume((lease) => this.#postReport(lease), {
      concurrency: REPORT_CONCURRENCY,
      retryAfterMs,
    });
    reported.sweep(
      input.messages,
      (letter) => {
        const message = decodeStoredMessage(letter.payload);
        return this.#report(message, letter.seq, "Rejected", "delivery attempts used up");
      },
      (letter) => decodeStoredMessage(letter.payload).receivedAtMs,
    );
  }

  /**
   * What the status query says beside the spool's state: a failure's reason and time (a failed
   * message is done in the spool), or a retrying message's last error and next attempt.
   */
  detailOf(seq: number, state: MessageState): DeliveryDetail {
    const failure = this.#outcomes.get(seq);
    if (failure !== undefined) {
      const failedAt = new Date(failure.atMs).toISOString();
      return { state: "Failed", reason: failure.reason, failedAt };
    }
    // A dead letter's time is not kept by the spool.
    if (state === "dead") return { state: "Failed", reason: "delivery attempts used up" };
    const note = this.#notes.get(seq);
    if (note === undefined || (state !== "retryWait" && state !== "leased")) return {};
    const { lastError, attempts, nextAttemptAtMs } = note;
    return { lastError, attempts, nextAttemptAt: new Date(nextAttemptAtMs).toISOString() };
  }

  /** Stops taking; forwards in flight finish (and are acked or retried). */
  async stop(): Promise<void> {
    await this.#reported.stop();
    await Promise.all([this.#messages.stop(), this.#reports.stop()]);
    await this.#outcomes.close();
  }

  /** One lease of a message: forward it, or fail it, or ask for a retry. */
  async #deliver(lease: Lease): Promise<void> {
    const { options, metrics, recipientUrl } = this.#input;
    const seq = lease.seq;
    const message = decodeStoredMessage(lease.payload);
    // Failed before a crash took the ack: its report is queued and its failure durable. A seq is
    // unique only within one spool's life: a failure older than the message is another's (a
    // messages directory recreated beside an old journal), and must not ack this one unsent.
    const failure = this.#outcomes.get(seq);
    if (failure !== undefined && failure.atMs >= message.receivedAtMs) return;
    // Delivered already, its report not queued: a 2xx is never followed by another forward.
    if (this.#deliveredUnreported.has(seq)) return this.#reportDelivered(message, seq);
    const expiryMs = expiresAtMs(message, options);
    if (Date.now() >= expiryMs) {
      metrics.deliveries.inc({ result: "expired" });
      const reason = `expired at ${new Date(expiryMs).toISOString()}`;
      return this.#fail(message, seq, { mmStatus: "Expired", reason });
    }
    const messageId = this.#input.messageIdOf(seq, message.vaspId);
    // Built only when the circuit lets the attempt go: a turned-back lease costs no copy.
    const result = await this.#attempt(recipientUrl, () =>
      forwardRequest(message, messageId, lease.attempt),
    );
    if (result.kind === "delivered") {
      this.#notes.delete(seq);
      if (this.#deliveredUnreported.size >= DELIVERED_UNREPORTED_MAX) {
        this.#deliveredUnreported.delete(this.#deliveredUnreported.values().next().value!);
      }
      this.#deliveredUnreported.add(seq);
      return this.#reportDelivered(message, seq);
    }
    if (result.kind === "refused") {
      metrics.deliveries.inc({ result: "refused" });
      const reason = `refused by recipient: ${result.reason}`;
      return this.#fail(message, seq, { mmStatus: "Rejected", reason });
    }
    metrics.deliveries.inc({ result: result.kind === "deferred" ? "deferred" : "retry" });
    const delayMs = this.#retryDelayMs(lease, result, expiryMs);
    // Turned back by the circuit: the last error a recipient gave still says the most.
    const lastError =
      result.kind === "deferred"
        ? (this.#notes.get(seq)?.lastError ?? result.reason)
        : result.reason;
    this.#note(seq, { lastError, attempts: lease.attempt, delayMs });
    throw new RetryLater(result.reason, delayMs);
  }

  /**
   * A delivered message's Retrieved report, queued durably before the ack (a crash in between
   * reports twice, never not at all); if queuing throws, the lease's retry comes back here.
   */
  async #reportDelivered(message: StoredMessage, seq: number): Promise<void> {
    await this.#report(message, seq, "Retrieved", "delivered");
    this.#deliveredUnreported.delete(seq);
    this.#input.metrics.deliveries.inc({ result: "delivered" });
  }

  /** A failure: its report queued, then the failure durable, before the ack that follows. */
  async #fail(
    message: StoredMessage,
    seq: number,
    failure: Pick<Failure, "mmStatus" | "reason">,
  ): Promise<void> {
    this.#notes.delete(seq);
    await this.#report(message, seq, failure.mmStatus, failure.reason);
    await this.#outcomes.record({ seq, ...failure, atMs: Date.now() });
  }

  /** One lease of a queued report: post it, drop it (refused or expired), or retry. */
  async #postReport(lease: Lease): Promise<void> {
    const { options, metrics } = this.#input;
    const queued = JSON.parse(new TextDecoder().decode(lease.payload)) as QueuedReport;
    const queuedAtMs = queued.queuedAtMs ?? Date.now();
    const expiryMs = queuedAtMs + options.expiryDefaultMs;
    // A report nobody will take is dropped, not kept forever: it only says how a message ended.
    if (Date.now() >= expiryMs) return void metrics.deliveries.inc({ result: "report_expired" });
    const headers = { "content-type": 'text/xml; charset="utf-8"' };
    const result = await this.#attempt(queued.reportUrl, () => ({ body: queued.body, headers }));
    if (result.kind === "delivered") return void metrics.reports.inc();
    if (result.kind === "refused") return void metrics.deliveries.inc({ result: "report_refused" });
    metrics.deliveries.inc({
      result: result.kind === "deferred" ? "report_deferred" : "report_retry",
    });
    throw new RetryLater(result.reason, this.#retryDelayMs(lease, result, expiryMs));
  }

  /** One POST through `url`'s circuit: turned back at once while the circuit is open. */
  async #attempt(
    url: string,
    request: () => { body: string | Uint8Array; headers: Record<string, string> },
  ): Promise<AttemptResult | { kind: "deferred"; reason: string; retryAtMs: number }> {
    const host = CircuitBreakers.hostOf(url);
    const admission = this.#breakers.admit(host, Date.now());
    if (!admission.admitted) {
      const reason = `circuit open: ${host} failed repeatedly`;
      return { kind: "deferred", reason, retryAtMs: admission.retryAtMs };
    }
    let result: AttemptResult | undefined;
    try {
      const { body, headers } = request();
      result = await attemptPost(url, body, headers, this.#input.options.timeoutMs);
      return result;
    } finally {
      // Recorded even if building the request threw: a half-open circuit's probe is released.
      this.#breakers.record(host, circuitOutcome(result), Date.now(), admission.probe);
    }
  }

  /** The wait before the next attempt: backoff or the circuit's reopening, never past expiry. */
  #retryDelayMs(
    lease: Lease,
    result: { kind: "transient"; retryAfterMs?: number } | { kind: "deferred"; retryAtMs: number },
    expiryMs: number,
  ): number {
    const nowMs = Date.now();
    const leftMs = expiryMs - nowMs;
    const wantedMs =
      result.kind === "deferred"
        ? result.retryAtMs - nowMs
        : backoffMs(this.#input.options, lease.attempt, result.retryAfterMs);
    return retryDelayMs({ wantedMs, leftMs, attempt: lease.attempt, attemptsMax: ATTEMPTS_MAX });
  }

  #note(seq: number, note: { lastError: string; attempts: number; delayMs: number }): void {
    this.#notes.delete(seq);
    if (this.#notes.size >= RETRY_NOTES_MAX) {
      this.#notes.delete(this.#notes.keys().next().value!);
    }
    const { lastError, attempts, delayMs } = note;
    this.#notes.set(seq, { lastError, attempts, nextAttemptAtMs: Date.now() + delayMs });
  }

  /** Queues a delivery report durably, one per recipient, when the message asked for one. */
  async #report(message: StoredMessage, seq: number, status: MmStatus, why: string) {
    const vasp = this.#input.vasps.find((candidate) => candidate.vaspId === message.vaspId);
    const reportUrl = vasp?.reportUrl;
    if (!message.deliveryReport || reportUrl == null) return;
    const messageId = this.#input.messageIdOf(seq, message.vaspId);
    const queuedAtMs = Date.now();
    // Appended together: the writer puts appends in flight into one batch, one flush for all.
    const appends = message.recipients.map((recipient) => {
      const body = deliveryReportRequest({
        namespace: message.namespace,
        transactionId: `dr-${messageId}`,
        messageId,
        recipient,
        sender: message.senderAddress,
        dateIso: new Date(queuedAtMs).toISOString(),
        mmStatus: status,
        statusText: why,
      });
      const queued: QueuedReport = { reportUrl, body, queuedAtMs };
      return this.#reportWriter.append(JSON.stringify(queued));
    });
    await Promise.all(appends);
  }
}

/**
 * What an attempt tells its host's circuit: the host answered (delivered or refused), or it did
 * not (a transient failure, or no attempt because building the request threw). Matched by kind,
 * so that a kind added to `AttemptResult` does not compile until it is counted one way or the
 * other.
 */
function circuitOutcome(result: AttemptResult | undefined): "transient" | "answered" {
  if (result === undefined) return "transient";
  return match(result)
    .with({ kind: "transient" }, () => "transient" as const)
    .with({ kind: "delivered" }, { kind: "refused" }, () => "answered" as const)
    .exhaustive();
}

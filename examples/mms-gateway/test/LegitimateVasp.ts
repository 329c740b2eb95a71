/**
 * A legitimate VASP's client for the hostile-traffic tests: every submission on a connection of
 * its own (as many MM7 clients do, and so that no keep-alive race can pass for a reset), each
 * answer sorted into what the issue distinguishes: accepted (StatusCode 1000), told to retry
 * later (HTTP 503 with Retry-After and MM7's 4006), refused otherwise, or dropped (reset,
 * closed unanswered, or no answer in time).
 */
import * as http from "node:http";
import { basicAuthorization, submissionBody } from "../src/Submission.js";

/** How a submission ended. */
export type Outcome =
  | { readonly kind: "accepted"; readonly messageId: string }
  | { readonly kind: "retryLater"; readonly retryAfter: string }
  | {
      readonly kind: "refused";
      readonly status: number;
      readonly statusCode: string;
      readonly statusText: string;
    }
  | { readonly kind: "dropped"; readonly reason: string };

/**
 * How long a submission may wait for its answer before it counts as dropped: an MM7 client
 * gives up after tens of seconds, and a gateway that has not answered by then has lost it for
 * the VASP as surely as a reset would.
 */
export const ANSWER_TIMEOUT_MS = 30_000;

/** MM7's "service unavailable": busy, retry later (OMA MM7 status codes). */
const SERVICE_UNAVAILABLE = "4006";

/** The VASP the tests' gateway process knows (`processes/gateway.ts`). */
export const LEGITIMATE_VASP = { vaspId: "acme", password: "s3cret" } as const;

/** A pending submission: its bytes partly sent, the rest sent by `finish`. */
export interface PendingSubmission {
  /** Resolves once its connection is established and its headers and first half sent. */
  readonly connected: Promise<void>;
  /** Sends the rest of the body; resolves with how the submission ended. */
  finish(): Promise<Outcome>;
}

/** Starts submission `n` on a new connection, sending its headers and half its body. */
export function startSubmission(url: string, n: number): PendingSubmission {
  const { contentType, body } = submissionBody({
    transactionId: `legitimate-${n}`,
    vaspId: LEGITIMATE_VASP.vaspId,
    recipients: ["447700900123"],
    attachments: [
      { contentType: "text/plain", contentId: "t", bytes: Buffer.alloc(1024, 0x61 + (n % 26)) },
    ],
  });
  const target = new URL(`${url}/mm7`);
  const request = http.request({
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    method: "POST",
    agent: false,
    headers: {
      "content-type": contentType,
      "content-length": body.byteLength,
      authorization: basicAuthorization(LEGITIMATE_VASP.vaspId, LEGITIMATE_VASP.password),
    },
  });
  const half = Math.floor(body.byteLength / 2);
  const outcome = answerOf(request);
  const connected = new Promise<void>((resolve, reject) => {
    request.on("socket", (socket) => socket.on("connect", () => resolve()));
    outcome.then((ended) => reject(new Error(`ended before connecting: ${JSON.stringify(ended)}`)));
  });
  connected.catch(() => undefined);
  request.write(body.subarray(0, half));
  return {
    connected,
    finish() {
      request.end(body.subarray(half));
      return outcome;
    },
  };
}

/** Submission `n`, whole, on a new connection. */
export function submit(url: string, n: number): Promise<Outcome> {
  return startSubmission(url, n).finish();
}

function answerOf(request: http.ClientRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    const timeout = setTimeout(() => {
      resolve({ kind: "dropped", reason: `no answer in ${ANSWER_TIMEOUT_MS} ms` });
      request.destroy();
    }, ANSWER_TIMEOUT_MS);
    const settle = (outcome: Outcome) => {
      clearTimeout(timeout);
      resolve(outcome);
    };
    request.on("error", (error: NodeJS.ErrnoException) =>
      settle({ kind: "dropped", reason: error.code ?? error.message }),
    );
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", (error: NodeJS.ErrnoException) =>
        settle({ kind: "dropped", reason: `answer cut: ${error.code ?? error.message}` }),
      );
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        settle(classify(response.statusCode ?? 0, response.headers["retry-after"], text));
      });
    });
  });
}

function classify(status: number, retryAfter: string | undefined, text: string): Outcome {
  const statusCode = /<StatusCode>(\d+)<\/StatusCode>/.exec(text)?.[1] ?? "none";
  const messageId = /<MessageID>([^<]+)<\/MessageID>/.exec(text)?.[1];
  if (status === 200 && statusCode === "1000" && messageId !== undefined) {
    return { kind: "accepted", messageId };
  }
  if (status === 503 && retryAfter !== undefined && statusCode === SERVICE_UNAVAILABLE) {
    return { kind: "retryLater", retryAfter };
  }
  const statusText = /<StatusText>([^<]*)<\/StatusText>/.exec(text)?.[1] ?? text.slice(0, 200);
  return { kind: "refused", status, statusCode, statusText };
}

/** The status the gateway gives a message (`Delivered`, `Failed`, ...), or why it could not. */
export function messageStatus(url: string, messageId: string): Promise<string> {
  const authorization = basicAuthorization(LEGITIMATE_VASP.vaspId, LEGITIMATE_VASP.password);
  const target = new URL(`${url}/mm7/messages/${encodeURIComponent(messageId)}`);
  return new Promise((resolve) => {
    const request = http.get(target, { agent: false, headers: { authorization } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", () => resolve("unanswered: answer cut"));
      response.on("end", () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { state?: string };
          resolve(body.state ?? `HTTP ${response.statusCode}`);
        } catch {
          resolve(`HTTP ${response.statusCode}, not JSON`);
        }
      });
    });
    request.setTimeout(ANSWER_TIMEOUT_MS, () => request.destroy(new Error("timeout")));
    request.on("error", (error: NodeJS.ErrnoException) =>
      resolve(`unanswered: ${error.code ?? error.message}`),
    );
  });
}

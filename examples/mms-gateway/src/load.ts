/**
 * `npm run load -w examples/mms-gateway`: drives the gateway with concurrent MM7 submissions
 * and prints accepted/s (SubmitRsp received: stored durably) and delivered/s (taken by the
 * sink). Targets the `npm start` gateway (GATEWAY_URL, SINK_URL) when it answers; otherwise
 * starts one of its own, with a sink, on free ports in a temporary directory.
 *
 * Environment: LOAD_CONCURRENCY (64 submissions in flight), LOAD_SECONDS (10),
 * LOAD_ATTACHMENT_BYTES (1024), GATEWAY_URL (http://127.0.0.1:8700),
 * SINK_URL (http://127.0.0.1:8701), LOAD_VASP (demo:demo-secret), and for a gateway of its own
 * GATEWAY_HANDLER_THREADS (0).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openGateway } from "./Gateway.js";
import { openSink } from "./Sink.js";
import { basicAuthorization, submissionBody } from "./Submission.js";

const concurrency = Number(process.env.LOAD_CONCURRENCY ?? 64);
const seconds = Number(process.env.LOAD_SECONDS ?? 10);
const attachmentBytes = Number(process.env.LOAD_ATTACHMENT_BYTES ?? 1024);
const [user, password] = (process.env.LOAD_VASP ?? "demo:demo-secret").split(":") as [
  string,
  string,
];

/** The running gateway and sink, or embedded ones when nothing answers. */
async function target() {
  const gatewayUrl = process.env.GATEWAY_URL ?? "http://127.0.0.1:8700";
  const sinkUrl = process.env.SINK_URL ?? "http://127.0.0.1:8701";
  const health = await fetch(`${gatewayUrl}/health`).catch(() => undefined);
  if (health?.ok) return { gatewayUrl, sinkUrl, stop: async () => {} };
  const dir = await mkdtemp(path.join(tmpdir(), "mms-load-"));
  const sink = await openSink();
  const gateway = await openGateway({
    dir,
    vasps: [{ vaspId: user, password, reportUrl: null }],
    recipientUrl: sink.deliverUrl,
    handlerThreads: Number(process.env.GATEWAY_HANDLER_THREADS ?? 0),
  });
  console.log(`no gateway at ${gatewayUrl}: started one at ${gateway.url} (spools in ${dir})`);
  return {
    gatewayUrl: gateway.url,
    sinkUrl: sink.url,
    stop: async () => {
      await gateway.close();
      await sink.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const { gatewayUrl, sinkUrl, stop } = await target();
const delivered = async () =>
  ((await (await fetch(`${sinkUrl}/stats`)).json()) as { delivered: number }).delivered;
const deliveredAtStart = await delivered();
const authorization = basicAuthorization(user, password);
const payload = Buffer.alloc(attachmentBytes, 0x61);
let accepted = 0;
let refused = 0;
let next = 0;
const started = performance.now();
const stopAt = started + seconds * 1000;
const lane = async () => {
  while (performance.now() < stopAt) {
    const { contentType, body } = submissionBody({
      transactionId: `load-${process.pid}-${next++}`,
      vaspId: user,
      recipients: ["447700900123"],
      attachments: [{ contentType: "application/octet-stream", contentId: "a", bytes: payload }],
    });
    const response = await fetch(`${gatewayUrl}/mm7`, {
      method: "POST",
      headers: { "content-type": contentType, authorization },
      body,
    });
    await response.arrayBuffer();
    if (response.ok) accepted += 1;
    else refused += 1;
  }
};
await Promise.all(Array.from({ length: concurrency }, lane));
const elapsed = (performance.now() - started) / 1000;
const deliveredCount = (await delivered()) - deliveredAtStart;
const rate = (count: number) => Math.round(count / elapsed).toLocaleString("en");
console.log(
  `${concurrency} in flight for ${elapsed.toFixed(1)} s: accepted ${accepted.toLocaleString("en")} ` +
    `(${rate(accepted)}/s), refused ${refused}, delivered ${deliveredCount.toLocaleString("en")} ` +
    `(${rate(deliveredCount)}/s)`,
);
await stop();

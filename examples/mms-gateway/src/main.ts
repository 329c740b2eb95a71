/**
 * `npm start`: the MMS gateway on loopback with its embedded spools under `./spool-data` (or on
 * a JetStream cluster), and a sink that takes the forwarded messages and the delivery reports.
 * Prints the URLs and a curl line to try. Stops on Ctrl-C (SIGINT) or SIGTERM, closing the
 * spools cleanly (exit 0; 1 if the close fails, or at once on a second signal).
 *
 * Environment: SPOOL_DIR (./spool-data), GATEWAY_PORT (8700), SINK_PORT (8701),
 * GATEWAY_ADMIN_PORT (8702: metrics and the live page, on loopback), GATEWAY_VASPS
 * (demo:demo-secret, its reports to the sink; see Vasps.ts for the format),
 * GATEWAY_HANDLER_THREADS (0: submissions are parsed in the HTTP thread). On a cluster:
 * SPOOL_STORE (nats://host:port,...), GATEWAY_STREAM (mms), GATEWAY_REPORTS_STREAM
 * (mms_reports), SPOOL_REPLICAS (1), GATEWAY_CONSUMER (gateway) and GATEWAY_IDENTITY_FILE
 * (SPOOL_DIR/gateway-identity.json): see SpoolStore.ts and the README.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { openGateway } from "./Gateway.js";
import { openSink } from "./Sink.js";
import { describeStore, spoolStoreOf } from "./SpoolStore.js";
import { parseVasps } from "./Vasps.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const dir = path.resolve(root, process.env.SPOOL_DIR ?? "spool-data");
// Read before anything listens: a wrong variable stops the start with its name.
const store = spoolStoreOf(process.env);
const identityFile = process.env.GATEWAY_IDENTITY_FILE;
const host = "127.0.0.1";
const sink = await openSink({ host, port: Number(process.env.SINK_PORT ?? 8701) });
const vasps = parseVasps(process.env.GATEWAY_VASPS ?? `demo:demo-secret:${sink.reportUrl}`);
const gateway = await openGateway({
  dir,
  store,
  ...(identityFile === undefined ? {} : { identityFile: path.resolve(root, identityFile) }),
  host,
  port: Number(process.env.GATEWAY_PORT ?? 8700),
  admin: { host, port: Number(process.env.GATEWAY_ADMIN_PORT ?? 8702) },
  vasps,
  recipientUrl: sink.deliverUrl,
  handlerThreads: Number(process.env.GATEWAY_HANDLER_THREADS ?? 0),
});
const recovered = gateway.messages.recovery;
// A stream has nothing to restore: what it holds is waiting on the cluster.
const restored =
  recovered === undefined
    ? `${await gateway.messages.depth()} messages to deliver on the stream`
    : `${recovered.recordsScanned} records scanned, ${await gateway.messages.depth()} messages to deliver`;
console.log(`MMS gateway (MM7 over HTTP) at ${gateway.url}, ${describeStore(store, dir)}
  POST ${gateway.url}/mm7                      SubmitReq (HTTP Basic: ${vasps.map((v) => v.vaspId).join(", ")})
  GET  ${gateway.url}/mm7/messages/<MessageID>  status
  GET  ${gateway.url}/health
Admin (loopback): ${gateway.adminUrl}/metrics  ${gateway.adminUrl}/ (live view)
Open connections at most ${gateway.connectionLimits.openCountMax} (within the descriptor limit).
Recipient sink at ${sink.deliverUrl} (reports ${sink.reportUrl}, counts ${sink.url}/stats)
Restored: ${restored}.
Try: curl -s -u demo:demo-secret -H 'Content-Type: text/xml' --data-binary @examples/mms-gateway/walkthrough/submit.xml ${gateway.url}/mm7`);

let stopping = false;
const stop = async () => {
  // A second signal while closing: whatever holds the close up, the operator wants out now.
  if (stopping) process.exit(1);
  stopping = true;
  let code = 0;
  try {
    await gateway.close();
    await sink.close();
  } catch (error) {
    console.error("closing the gateway failed:", error);
    code = 1;
  } finally {
    process.exit(code);
  }
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

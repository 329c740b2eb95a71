/**
 * `npm start`: the MMS gateway on loopback with its embedded spools under `./spool-data`, and a
 * sink that takes the forwarded messages and the delivery reports. Prints the URLs and a curl
 * line to try. Stops on Ctrl-C (SIGINT) or SIGTERM, closing the spools cleanly (exit 0; 1 if the
 * close fails, or at once on a second signal).
 *
 * Environment: SPOOL_DIR (./spool-data), GATEWAY_PORT (8700), SINK_PORT (8701),
 * GATEWAY_ADMIN_PORT (8702: metrics and the live page, on loopback), GATEWAY_VASPS
 * (demo:demo-secret, its reports to the sink; see Vasps.ts for the format),
 * GATEWAY_HANDLER_THREADS (0: submissions are parsed in the HTTP thread).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { openGateway } from "./Gateway.js";
import { openSink } from "./Sink.js";
import { parseVasps } from "./Vasps.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const dir = path.resolve(root, process.env.SPOOL_DIR ?? "spool-data");
const host = "127.0.0.1";
const sink = await openSink({ host, port: Number(process.env.SINK_PORT ?? 8701) });
const vasps = parseVasps(process.env.GATEWAY_VASPS ?? `demo:demo-secret:${sink.reportUrl}`);
const gateway = await openGateway({
  dir,
  host,
  port: Number(process.env.GATEWAY_PORT ?? 8700),
  admin: { host, port: Number(process.env.GATEWAY_ADMIN_PORT ?? 8702) },
  vasps,
  recipientUrl: sink.deliverUrl,
  handlerThreads: Number(process.env.GATEWAY_HANDLER_THREADS ?? 0),
});
const recovered = gateway.messages.recovery;
console.log(`MMS gateway (MM7 over HTTP) at ${gateway.url}, spools under ${dir}
  POST ${gateway.url}/mm7                      SubmitReq (HTTP Basic: ${vasps.map((v) => v.vaspId).join(", ")})
  GET  ${gateway.url}/mm7/messages/<MessageID>  status
  GET  ${gateway.url}/health
Admin (loopback): ${gateway.adminUrl}/metrics  ${gateway.adminUrl}/ (live view)
Open connections at most ${gateway.connectionLimits.openCountMax} (within the descriptor limit).
Recipient sink at ${sink.deliverUrl} (reports ${sink.reportUrl}, counts ${sink.url}/stats)
Restored: ${recovered.recordsScanned} records scanned, ${gateway.messages.depth()} messages to deliver.
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

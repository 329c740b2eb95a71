/**
 * A gateway process for the crash test: serves on a free loopback port with its spools in
 * argv[2], forwarding to argv[3]; prints `{url}` once it serves.
 */
import { writeSync } from "node:fs";
import { openGateway } from "../../src/Gateway.js";

const [dir, recipientUrl, reportUrl] = process.argv.slice(2);
const gateway = await openGateway({
  dir: dir!,
  host: "127.0.0.1",
  vasps: [{ vaspId: "acme", password: "s3cret", reportUrl: reportUrl! }],
  recipientUrl: recipientUrl!,
  delivery: { backoffBaseMs: 10, backoffMaxMs: 100 },
});
writeSync(1, `${JSON.stringify({ url: gateway.url })}\n`);

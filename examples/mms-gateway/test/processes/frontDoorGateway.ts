/**
 * A gateway process for the descriptor test (run under a small `ulimit -n`): serves on a free
 * loopback port with its spools in argv[2], forwarding to argv[3]; prints `{url, adminUrl,
 * openCountMax}` once it serves.
 */
import { writeSync } from "node:fs";
import { openGateway } from "../../src/Gateway.js";

const [dir, recipientUrl] = process.argv.slice(2);
const gateway = await openGateway({
  dir: dir!,
  host: "127.0.0.1",
  vasps: [{ vaspId: "acme", password: "s3cret", reportUrl: null }],
  recipientUrl: recipientUrl!,
  delivery: { backoffBaseMs: 10, backoffMaxMs: 100 },
});
const { url, adminUrl, connectionLimits } = gateway;
writeSync(
  1,
  `${JSON.stringify({ url, adminUrl, openCountMax: connectionLimits?.openCountMax })}\n`,
);

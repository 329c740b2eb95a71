/**
 * A gateway process for the process tests: serves on a free loopback port with its spools in
 * argv[2], forwarding to argv[3], the VASP `acme` reporting to argv[4]; prints `{url, adminUrl,
 * openCountMax, pid}` once it serves.
 *
 * GATEWAY_TEST_OPTIONS, when set, is JSON spread over these options (`delivery` and `limits`
 * field by field), so a test can set any option of openGateway, the connection limits among
 * them, without this script knowing their names.
 */
import { writeSync } from "node:fs";
import { type GatewayOptions, openGateway } from "../../src/Gateway.js";

const [dir, recipientUrl, reportUrl] = process.argv.slice(2);
const given = JSON.parse(process.env.GATEWAY_TEST_OPTIONS ?? "{}") as Partial<GatewayOptions>;
const gateway = await openGateway({
  dir: dir!,
  host: "127.0.0.1",
  vasps: [{ vaspId: "acme", password: "s3cret", reportUrl: reportUrl! }],
  recipientUrl: recipientUrl!,
  ...given,
  delivery: { backoffBaseMs: 10, backoffMaxMs: 100, ...given.delivery },
  limits: { ...given.limits },
});
const { url, adminUrl, connectionLimits } = gateway;
const openCountMax = connectionLimits.openCountMax;
writeSync(1, `${JSON.stringify({ url, adminUrl, openCountMax, pid: process.pid })}\n`);

/**
 * Who may submit: value-added service providers (VASPs) with HTTP Basic credentials, as MM7
 * deployments authenticate them. Passwords are compared as SHA-256 digests with
 * `timingSafeEqual`, so the comparison takes the same time whatever the guess.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** A VASP the gateway accepts, and where its delivery reports go. */
export interface Vasp {
  readonly vaspId: string;
  readonly password: string;
  /** Where DeliveryReportReq is posted for its messages that asked for one; none when null. */
  readonly reportUrl: string | null;
}

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Checks an `Authorization` header; the VASP it names, or undefined when it does not pass. */
export function authenticate(vasps: readonly Vasp[], authorization: string | undefined) {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(authorization ?? "");
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const user = decoded.slice(0, colon);
  const given = digest(decoded.slice(colon + 1));
  // Every VASP is compared, so the time taken does not tell which user names exist.
  let found: Vasp | undefined;
  for (const vasp of vasps) {
    const passwordMatches = timingSafeEqual(given, digest(vasp.password));
    if (passwordMatches && vasp.vaspId === user) found = vasp;
  }
  return found;
}

/**
 * VASPs from `id:password[:reportUrl]` entries separated by commas (the GATEWAY_VASPS
 * environment variable).
 *
 * @example
 * parseVasps("acme:s3cret:http://127.0.0.1:9000/reports,beta:pw")
 */
export function parseVasps(text: string): Vasp[] {
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const [vaspId, password, ...url] = entry.split(":");
      if (!vaspId || !password) throw new Error(`GATEWAY_VASPS: "${entry}" is not id:password`);
      return { vaspId, password, reportUrl: url.length > 0 ? url.join(":") : null };
    });
}

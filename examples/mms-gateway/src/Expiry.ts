/**
 * When a message expires: the SubmitReq's ExpiryDate (TS 23.140 §8.2.2.1: an absolute
 * xs:dateTime, or an xs:duration relative to the submission), or the gateway's default; never
 * later than the gateway's maximum after it was received.
 */
import { Mm7Fault, STATUS } from "./Mm7.js";

/** The expiry policy. @example { expiryDefaultMs: 86_400_000, expiryMaxMs: 604_800_000 } */
export interface ExpiryOptions {
  /** A message without ExpiryDate expires this long after it was received. */
  readonly expiryDefaultMs: number;
  /** No message is retried longer than this after it was received, whatever it asked for. */
  readonly expiryMaxMs: number;
}

// xs:dateTime (XML Schema 1.0 §3.2.7): a zone of Z or ±hh:mm (at most 14:00 either way);
// without one it is read as UTC; 24:00:00 is the first instant of the next day.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
// xs:duration (§3.2.6): PnYnMnDTnHnMnS, any part omitted but not all, and a T only before a
// time part. A negative one (a leading "-") names an instant before receipt: refused as past.
const DURATION =
  /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** A zone offset's most, 14:00 (XML Schema 1.0 §3.2.7.3: -14:00 to +14:00). */
const ZONE_MINUTES_MAX = 14 * 60;

/**
 * The instant, in ms since the epoch, an ExpiryDate names for a message received at
 * `receivedAtMs`; a 4004 fault for text that is neither form, or for an instant not after
 * `receivedAtMs` (a message that expired before it was accepted would be accepted only to fail).
 *
 * @example expiryDateMs("PT2H", Date.parse("2026-01-01T00:00:00Z")) // 1767232800000
 */
export function expiryDateMs(text: string, receivedAtMs: number): number {
  const trimmed = text.trim();
  if (trimmed.startsWith("-") && DURATION.test(trimmed.slice(1))) {
    const shown = JSON.stringify(trimmed.slice(0, 64));
    throw new Mm7Fault(STATUS.validationError, `ExpiryDate ${shown} is already past`);
  }
  const atMs = DURATION.test(trimmed) ? afterDuration(trimmed, receivedAtMs) : dateTimeMs(trimmed);
  if (atMs === undefined) {
    throw new Mm7Fault(
      STATUS.validationError,
      `ExpiryDate ${JSON.stringify(text.slice(0, 64))} is neither an xs:dateTime nor an ` +
        `xs:duration`,
    );
  }
  if (atMs <= receivedAtMs) {
    throw new Mm7Fault(
      STATUS.validationError,
      `ExpiryDate ${new Date(atMs).toISOString()} is already past`,
    );
  }
  return atMs;
}

/** When the message stored with these fields expires, under `options`. */
export function expiresAtMs(
  message: { readonly receivedAtMs: number; readonly expiresAtMs: number | null },
  options: ExpiryOptions,
): number {
  const latestMs = message.receivedAtMs + options.expiryMaxMs;
  const askedMs = message.expiresAtMs ?? message.receivedAtMs + options.expiryDefaultMs;
  return Math.min(askedMs, latestMs);
}

function dateTimeMs(text: string): number | undefined {
  const match = DATE_TIME.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  const fields = [year, month, day, hour, minute, second].map(Number) as number[];
  const [y, mo, d, h, mi, s] = fields as [number, number, number, number, number, number];
  const midnight = h === 24 && mi === 0 && s === 0 && Number(fraction ?? "0") === 0;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || (h > 23 && !midnight) || mi > 59 || s > 59) {
    return undefined;
  }
  const dayMs = Date.UTC(y, mo - 1, d);
  // A day past the month's end (31 April) rolls over in Date.UTC: refused instead.
  if (new Date(dayMs).getUTCDate() !== d) return undefined;
  let atMs = dayMs + ((h * 60 + mi) * 60 + s) * 1000 + Math.floor(Number(fraction ?? "0") * 1000);
  if (zone !== undefined && zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const [zoneHours, zoneMinutes] = zone.slice(1).split(":").map(Number) as [number, number];
    const offsetMinutes = zoneHours * 60 + zoneMinutes;
    if (zoneMinutes > 59 || offsetMinutes > ZONE_MINUTES_MAX) return undefined;
    atMs -= sign * offsetMinutes * 60_000;
  }
  return atMs;
}

/** The calendar arithmetic of xs:duration (months and years by the calendar, in UTC). */
function afterDuration(text: string, fromMs: number): number | undefined {
  const match = DURATION.exec(text)!;
  const [, years, months, days, hours, minutes, seconds] = match;
  // "P" and "PT" alone name no duration.
  if (match.slice(1).every((part) => part === undefined)) return undefined;
  const at = new Date(fromMs);
  const monthIndex = at.getUTCMonth() + Number(months ?? 0) + 12 * Number(years ?? 0);
  // XML Schema 1.0 appendix E: the day is pinned to the target month's last (31 Jan + P1M is
  // 28 Feb, not 3 Mar as Date's own overflow would have it).
  const lastDay = new Date(Date.UTC(at.getUTCFullYear(), monthIndex + 1, 0)).getUTCDate();
  at.setUTCDate(1);
  at.setUTCMonth(monthIndex);
  at.setUTCDate(Math.min(new Date(fromMs).getUTCDate(), lastDay));
  const clockMs =
    ((Number(days ?? 0) * 24 + Number(hours ?? 0)) * 60 + Number(minutes ?? 0)) * 60_000 +
    Math.round(Number(seconds ?? 0) * 1000);
  const atMs = at.getTime() + clockMs;
  return Number.isFinite(atMs) ? atMs : undefined;
}

/**
 * File descriptors: how many the process may open, and how many the front door may take of
 * them. Every connection holds one; so does every forwarding socket and every spool file. If
 * connections could take them all, forwarding would fail with EMFILE and accepted messages would
 * fail with it (issue 18, finding 1): so the connections' cap leaves a reserve.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { ConnectionLimits } from "./Limits.js";

/**
 * Descriptors kept free beyond those counted at start and forwarding's sockets: a spool opens a
 * new segment before closing the last, a report sweep reads a file, a handler thread starts, and
 * Node's own threads open a few; 64 covers those with room (measured: a gateway idles at ~30).
 */
export const DESCRIPTOR_MARGIN = 64;

/** When the limit cannot be read (no `/proc`): Linux's default soft limit. */
export const DEFAULT_OPEN_FILE_LIMIT = 1024;

/** The soft "Max open files" of this process, from `/proc/self/limits`; undefined if unknown. */
export function openFileLimit(limitsText = readProc("/proc/self/limits")): number | undefined {
  const line = limitsText?.split("\n").find((row) => row.startsWith("Max open files"));
  const soft = line === undefined ? undefined : /^Max open files\s+(\S+)/.exec(line)?.[1];
  if (soft === undefined || soft === "unlimited") return undefined;
  const value = Number(soft);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** Descriptors this process holds now; undefined when `/proc/self/fd` cannot be read. */
export function openDescriptorCount(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

/** What the connections' cap is made from. */
export interface DescriptorBudget {
  /** The configured cap on open connections. */
  readonly openCountMax: number;
  /** The soft descriptor limit; {@link DEFAULT_OPEN_FILE_LIMIT} when unknown. */
  readonly openFileLimit: number;
  /** Descriptors held before the gateway serves: the spools' files, Node's own. */
  readonly inUseCount: number;
  /** Sockets kept for others than the MM7 port: forwarding, reports, the admin listener. */
  readonly reservedSocketCount: number;
}

/**
 * The open-connection cap the descriptor limit allows: the configured one, or less, so that the
 * descriptors held now, forwarding's sockets and {@link DESCRIPTOR_MARGIN} always stay free.
 * At least 1, so the gateway still answers (its delivery side is kept whole either way).
 *
 * @example connectionCountMax({ openCountMax: 1024, openFileLimit: 300, inUseCount: 30,
 *   reservedSocketCount: 40 }) // 166
 */
export function connectionCountMax(budget: DescriptorBudget): number {
  const reserve = budget.inUseCount + budget.reservedSocketCount + DESCRIPTOR_MARGIN;
  return Math.max(1, Math.min(budget.openCountMax, budget.openFileLimit - reserve));
}

/**
 * `configured` with its open cap lowered to what this process's descriptor limit allows, counted
 * now (call it once the spools are open and forwarding has started), keeping
 * `reservedSocketCount` free besides those in use and the margin.
 *
 * @example withinDescriptorLimit(DEFAULT_CONNECTION_LIMITS, 2 * (16 + 4) + 16)
 */
export function withinDescriptorLimit(
  configured: ConnectionLimits,
  reservedSocketCount: number,
): ConnectionLimits {
  const openCountMax = connectionCountMax({
    openCountMax: configured.openCountMax,
    openFileLimit: openFileLimit() ?? DEFAULT_OPEN_FILE_LIMIT,
    inUseCount: openDescriptorCount() ?? 0,
    reservedSocketCount,
  });
  return withOpenCountMax(configured, openCountMax);
}

/**
 * `configured` with the open cap `openCountMax` and the other caps within it. When the open cap
 * is lowered, the unauthenticated cap is at most half of it, as by default, so that strangers
 * alone can never fill the door; otherwise no cap exceeds the open cap.
 *
 * @example withOpenCountMax(DEFAULT_CONNECTION_LIMITS, 166).unauthenticatedCountMax // 83
 */
export function withOpenCountMax(
  configured: ConnectionLimits,
  openCountMax: number,
): ConnectionLimits {
  const lowered = openCountMax < configured.openCountMax;
  const unauthenticatedCountMax = lowered
    ? Math.max(1, Math.floor(openCountMax / 2))
    : openCountMax;
  return {
    ...configured,
    openCountMax,
    unauthenticatedCountMax: Math.min(configured.unauthenticatedCountMax, unauthenticatedCountMax),
    perAddressCountMax: Math.min(configured.perAddressCountMax, openCountMax),
  };
}

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

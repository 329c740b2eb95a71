/**
 * The front door's connections: caps on open ones, on unauthenticated ones and per client
 * address. A connection is unauthenticated until a request on it passes Basic authentication.
 * When a cap is reached, the newcomer takes the place of an unauthenticated connection, chosen
 * in this order: one past its grace period ({@link ADMISSION_GRACE_MS}) before one within it;
 * then one from the address holding the most unauthenticated connections; then an idle one (no
 * request in progress) before one whose answer waits (every request without credentials is
 * answered at once, so one still in progress is a client that does not read its answers); then
 * the longest idle or waiting. A VASP thus gets in through a flood of idle, slow or stuck
 * connections, and its connection, just accepted and not yet read, is not the flood's first
 * victim; only when every connection in its way is authenticated is it closed at once.
 */
import type * as net from "node:net";

/**
 * How long a new connection is spared while older strangers are there to evict. Node accepts a
 * burst of connections before it reads any of them, and under a flood a VASP's connection may
 * wait that long for its first read (Node's connection checks run every second too): evicted
 * before its request is parsed, it could never authenticate.
 */
export const ADMISSION_GRACE_MS = 1_000;

/** A clock in milliseconds, and the grace period; injected by tests. */
export interface AdmissionClock {
  readonly nowMs: () => number;
  readonly graceMs: number;
}

const REAL_CLOCK: AdmissionClock = { nowMs: () => performance.now(), graceMs: ADMISSION_GRACE_MS };

/**
 * The caps {@link Admission} keeps.
 *
 * @example { openCountMax: 300, unauthenticatedCountMax: 150, perAddressCountMax: 100 }
 */
export interface AdmissionCaps {
  readonly openCountMax: number;
  readonly unauthenticatedCountMax: number;
  readonly perAddressCountMax: number;
}

interface Connection {
  readonly address: string;
  readonly admittedAtMs: number;
  authenticated: boolean;
  /** Requests received on it and not yet answered (more than one only when pipelined). */
  requestCount: number;
}

/** What the front door has done so far, for metrics and tests. */
export interface AdmissionCounts {
  readonly open: number;
  readonly unauthenticated: number;
  /** Unauthenticated connections closed to make room for a newcomer. */
  readonly evicted: number;
  /** Newcomers closed at once: every connection in their way was authenticated. */
  readonly refused: number;
}

/**
 * Tracks every connection of an HTTP server and keeps the caps.
 *
 * @example
 * const admission = new Admission({ openCountMax: 300, unauthenticatedCountMax: 150,
 *   perAddressCountMax: 100 });
 * server.on("connection", (socket) => admission.admit(socket));
 */
export class Admission {
  readonly #caps: AdmissionCaps;
  readonly #connections = new Map<net.Socket, Connection>();
  /** Unauthenticated connections without a request in progress, longest idle first. */
  readonly #idle = new Set<net.Socket>();
  /** Unauthenticated connections with a request in progress, longest waiting first. */
  readonly #answering = new Set<net.Socket>();
  readonly #perAddress = new Map<string, number>();
  /** Unauthenticated connections per address: the flood's addresses are evicted from first. */
  readonly #unauthenticatedPerAddress = new Map<string, number>();
  readonly #clock: AdmissionClock;
  #unauthenticatedCount = 0;
  #evictedCount = 0;
  #refusedCount = 0;

  constructor(caps: AdmissionCaps, clock: AdmissionClock = REAL_CLOCK) {
    for (const [name, value] of Object.entries(caps)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`${name} must be a positive integer, not ${value}`);
      }
    }
    this.#caps = caps;
    this.#clock = clock;
  }

  /** A new connection: admitted (evicting a stranger if a cap requires), or closed. */
  admit(socket: net.Socket): boolean {
    // Closed by its client before it was accepted: nothing to count.
    if (socket.destroyed) return false;
    // No address (reset as it was accepted): it could be held to no cap, so it is not kept.
    if (socket.remoteAddress === undefined) {
      socket.destroy();
      return false;
    }
    const address = clientOf(socket.remoteAddress);
    if (!this.#makeRoom(address)) {
      this.#refusedCount += 1;
      socket.destroy();
      return false;
    }
    const admittedAtMs = this.#clock.nowMs();
    this.#connections.set(socket, { address, admittedAtMs, authenticated: false, requestCount: 0 });
    addTo(this.#perAddress, address, 1);
    addTo(this.#unauthenticatedPerAddress, address, 1);
    this.#unauthenticatedCount += 1;
    this.#idle.add(socket);
    socket.once("close", () => this.#forget(socket));
    return true;
  }

  /** A request arrived on `socket`: it is not idle until the request is answered. */
  requestStarted(socket: net.Socket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined) return;
    connection.requestCount += 1;
    this.#idle.delete(socket);
    if (!connection.authenticated) this.#answering.add(socket);
  }

  /** A request on `socket` was answered (or abandoned). */
  requestFinished(socket: net.Socket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined || connection.requestCount === 0) return;
    connection.requestCount -= 1;
    if (connection.requestCount === 0 && !connection.authenticated) {
      this.#answering.delete(socket);
      this.#idle.add(socket);
    }
  }

  /** A request on `socket` passed Basic authentication: the connection is never evicted. */
  authenticated(socket: net.Socket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined || connection.authenticated) return;
    connection.authenticated = true;
    this.#unauthenticatedCount -= 1;
    addTo(this.#unauthenticatedPerAddress, connection.address, -1);
    this.#idle.delete(socket);
    this.#answering.delete(socket);
  }

  /** Connections open and unauthenticated now, and those closed to keep the caps so far. */
  counts(): AdmissionCounts {
    return {
      open: this.#connections.size,
      unauthenticated: this.#unauthenticatedCount,
      evicted: this.#evictedCount,
      refused: this.#refusedCount,
    };
  }

  /** Whether a connection from `address` fits, after evicting what the caps require. */
  #makeRoom(address: string): boolean {
    const caps = this.#caps;
    if ((this.#perAddress.get(address) ?? 0) >= caps.perAddressCountMax && !this.#evict(address)) {
      return false;
    }
    if (this.#connections.size >= caps.openCountMax && !this.#evict()) return false;
    if (this.#unauthenticatedCount >= caps.unauthenticatedCountMax && !this.#evict()) return false;
    return true;
  }

  /** Closes an unauthenticated connection (from `address`, if given), in the module's order. */
  #evict(address?: string): boolean {
    const socket = this.#victim(address);
    if (socket === undefined) return false;
    this.#forget(socket);
    socket.destroy();
    this.#evictedCount += 1;
    return true;
  }

  /**
   * The unauthenticated connection to evict (from `address`, if given): the lowest rank, the
   * oldest of equals (sets iterate in insertion order, and only a lower rank replaces).
   */
  #victim(address: string | undefined): net.Socket | undefined {
    const graceStartMs = this.#clock.nowMs() - this.#clock.graceMs;
    let victim: net.Socket | undefined;
    let victimRank: readonly number[] = [];
    for (const [waiting, sockets] of [this.#idle, this.#answering].entries()) {
      for (const socket of sockets) {
        const connection = this.#connections.get(socket)!;
        if (address !== undefined && connection.address !== address) continue;
        const rank = [
          connection.admittedAtMs > graceStartMs ? 1 : 0,
          -(this.#unauthenticatedPerAddress.get(connection.address) ?? 0),
          waiting,
        ];
        if (victim === undefined || isLower(rank, victimRank)) {
          victim = socket;
          victimRank = rank;
        }
      }
    }
    return victim;
  }

  /** Drops a closed or evicted connection from every count (once). */
  #forget(socket: net.Socket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined) return;
    this.#connections.delete(socket);
    this.#idle.delete(socket);
    this.#answering.delete(socket);
    if (!connection.authenticated) {
      this.#unauthenticatedCount -= 1;
      addTo(this.#unauthenticatedPerAddress, connection.address, -1);
    }
    addTo(this.#perAddress, connection.address, -1);
  }
}

/**
 * The client an address counts as for the per-address cap: an IPv4 address as it is (written as
 * an IPv4-mapped IPv6 address or not), an IPv6 address by its /64, since one host is given a
 * whole /64 (RFC 6177) and could otherwise open the cap's connections from each of its addresses.
 *
 * @example clientOf("2001:db8:1:2::a") // "2001:db8:1:2::/64"
 */
export function clientOf(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("%")[0]!.split("::");
  const groupsOf = (part: string) =>
    // An IPv4 tail (64:ff9b::192.0.2.1) stands for two groups.
    part === ""
      ? []
      : part.split(":").flatMap((group) => (group.includes(".") ? ["0", "0"] : [group]));
  const before = groupsOf(head);
  const after = tail === undefined ? [] : groupsOf(tail);
  const groups = [
    ...before,
    ...Array(Math.max(0, 8 - before.length - after.length)).fill("0"),
    ...after,
  ];
  const prefix = groups.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16));
  return `${prefix.join(":")}::/64`;
}

/** Adds `delta` to `key`'s count, dropping the key at zero. */
function addTo(counts: Map<string, number>, key: string, delta: number): void {
  const count = (counts.get(key) ?? 0) + delta;
  if (count <= 0) counts.delete(key);
  else counts.set(key, count);
}

/** Whether rank `a` is lower than `b`, compared element by element. */
function isLower(a: readonly number[], b: readonly number[]): boolean {
  for (let index = 0; index < a.length; index += 1) {
    if (a[index] !== b[index]) return a[index]! < b[index]!;
  }
  return false;
}

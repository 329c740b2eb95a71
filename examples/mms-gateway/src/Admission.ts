/**
 * The front door's connections: caps on open ones, on unauthenticated ones and per client
 * address. A connection is unauthenticated until a request on it passes Basic authentication.
 * When a cap is reached, the newcomer takes the place of an unauthenticated connection: the
 * longest idle (no request in progress), else the one whose answer has waited longest (every
 * request without credentials is answered at once, so one still in progress is a client that
 * does not read its answers). A VASP thus gets in through a flood of idle, slow or stuck
 * connections; only when every connection in its way is authenticated is it closed at once.
 */
import type * as net from "node:net";

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
  #unauthenticatedCount = 0;
  #evictedCount = 0;
  #refusedCount = 0;

  constructor(caps: AdmissionCaps) {
    for (const [name, value] of Object.entries(caps)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`${name} must be a positive integer, not ${value}`);
      }
    }
    this.#caps = caps;
  }

  /** A new connection: admitted (evicting a stranger if a cap requires), or closed. */
  admit(socket: net.Socket): boolean {
    // Closed by its client before it was accepted: nothing to count.
    if (socket.destroyed || socket.remoteAddress === undefined) return false;
    const address = socket.remoteAddress;
    if (!this.#makeRoom(address)) {
      this.#refusedCount += 1;
      socket.destroy();
      return false;
    }
    this.#connections.set(socket, { address, authenticated: false, requestCount: 0 });
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
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

  /** Closes an unauthenticated connection (from `address`, if given): the longest idle first. */
  #evict(address?: string): boolean {
    const socket = this.#oldestOf(this.#idle, address) ?? this.#oldestOf(this.#answering, address);
    if (socket === undefined) return false;
    this.#forget(socket);
    socket.destroy();
    this.#evictedCount += 1;
    return true;
  }

  /** The first connection of `sockets` (from `address`, if given). */
  #oldestOf(sockets: Set<net.Socket>, address: string | undefined): net.Socket | undefined {
    for (const socket of sockets) {
      if (address === undefined || this.#connections.get(socket)?.address === address) {
        return socket;
      }
    }
    return undefined;
  }

  /** Drops a closed or evicted connection from every count (once). */
  #forget(socket: net.Socket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined) return;
    this.#connections.delete(socket);
    this.#idle.delete(socket);
    this.#answering.delete(socket);
    if (!connection.authenticated) this.#unauthenticatedCount -= 1;
    const left = (this.#perAddress.get(connection.address) ?? 1) - 1;
    if (left === 0) this.#perAddress.delete(connection.address);
    else this.#perAddress.set(connection.address, left);
  }
}

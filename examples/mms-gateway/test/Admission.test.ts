import { EventEmitter } from "node:events";
import type * as net from "node:net";
import { describe, expect, it } from "vitest";
import { Admission, clientOf } from "../src/Admission.js";

/** A socket as Admission sees one: an address, `destroy`, and a `close` event. */
function socketFrom(remoteAddress = "192.0.2.1"): net.Socket {
  const socket = new EventEmitter() as EventEmitter & { destroyed: boolean };
  socket.destroyed = false;
  Object.assign(socket, {
    remoteAddress,
    destroy() {
      socket.destroyed = true;
      socket.emit("close");
    },
  });
  return socket as unknown as net.Socket;
}

const caps = { openCountMax: 3, unauthenticatedCountMax: 3, perAddressCountMax: 3 };

describe("Admission", () => {
  it("makes room by evicting the longest-idle stranger, not the newest", () => {
    const admission = new Admission(caps);
    const [a, b, c, d] = [socketFrom(), socketFrom(), socketFrom(), socketFrom()];
    for (const socket of [a, b, c]) expect(admission.admit(socket!)).toBe(true);
    // b answered a request since: a has been idle longest.
    admission.requestStarted(b!);
    admission.requestFinished(b!);
    expect(admission.admit(d!)).toBe(true);
    expect([a, b, c, d].map((socket) => socket!.destroyed)).toEqual([true, false, false, false]);
    expect(admission.counts()).toEqual({ open: 3, unauthenticated: 3, evicted: 1, refused: 0 });
  });

  it("evicts a stranger that does not read its answer when none is idle", () => {
    const admission = new Admission(caps);
    const strangers = [socketFrom(), socketFrom(), socketFrom()];
    for (const socket of strangers) {
      admission.admit(socket);
      admission.requestStarted(socket);
    }
    expect(admission.admit(socketFrom())).toBe(true);
    expect(strangers.map((socket) => socket.destroyed)).toEqual([true, false, false]);
  });

  it("never evicts an authenticated connection: the newcomer is closed instead", () => {
    const admission = new Admission(caps);
    const vasps = [socketFrom(), socketFrom(), socketFrom()];
    for (const socket of vasps) {
      admission.admit(socket);
      admission.requestStarted(socket);
      admission.authenticated(socket);
      admission.requestFinished(socket);
    }
    const newcomer = socketFrom();
    expect(admission.admit(newcomer)).toBe(false);
    expect(newcomer.destroyed).toBe(true);
    expect(vasps.some((socket) => socket.destroyed)).toBe(false);
    expect(admission.counts()).toEqual({ open: 3, unauthenticated: 0, evicted: 0, refused: 1 });
  });

  it("keeps the per-address cap by evicting from that address only", () => {
    const admission = new Admission({ ...caps, openCountMax: 10, unauthenticatedCountMax: 10 });
    const near = [socketFrom("192.0.2.1"), socketFrom("192.0.2.1"), socketFrom("192.0.2.1")];
    const far = socketFrom("198.51.100.7");
    admission.admit(far);
    for (const socket of near) admission.admit(socket);
    admission.admit(socketFrom("192.0.2.1"));
    expect(far.destroyed).toBe(false);
    expect(near.map((socket) => socket.destroyed)).toEqual([true, false, false]);
  });

  it("counts a connection once however it goes: evicted, then closed", () => {
    const admission = new Admission(caps);
    const sockets = [socketFrom(), socketFrom(), socketFrom(), socketFrom(), socketFrom()];
    for (const socket of sockets) admission.admit(socket);
    for (const socket of sockets) socket.destroy();
    expect(admission.counts()).toEqual({ open: 0, unauthenticated: 0, evicted: 2, refused: 0 });
  });

  it("spares a just-accepted connection while an older stranger can be evicted", () => {
    const clock = { nowMs: () => 0, graceMs: 1_000 };
    const admission = new Admission(caps, clock);
    // Two strangers that do not read their answers, then a VASP's connection not yet read.
    const strangers = [socketFrom("192.0.2.1"), socketFrom("192.0.2.1")];
    for (const socket of strangers) {
      admission.admit(socket);
      admission.requestStarted(socket);
    }
    clock.nowMs = () => 5_000;
    const vasp = socketFrom("198.51.100.7");
    admission.admit(vasp);
    expect(admission.admit(socketFrom("203.0.113.9"))).toBe(true);
    expect(vasp.destroyed).toBe(false);
    expect(strangers.map((socket) => socket.destroyed)).toEqual([true, false]);
  });

  it("evicts from the address holding the most unauthenticated connections first", () => {
    const clock = { nowMs: () => 0, graceMs: 1_000 };
    const admission = new Admission(caps, clock);
    const lone = socketFrom("198.51.100.7");
    const flood = [socketFrom("192.0.2.1"), socketFrom("192.0.2.1")];
    for (const socket of [lone, ...flood]) admission.admit(socket);
    clock.nowMs = () => 5_000;
    expect(admission.admit(socketFrom("203.0.113.9"))).toBe(true);
    expect([lone, ...flood].map((socket) => socket.destroyed)).toEqual([false, true, false]);
  });

  it("closes a connection without a remote address rather than keep it outside the caps", () => {
    const admission = new Admission(caps);
    const socket = socketFrom();
    Object.assign(socket, { remoteAddress: undefined });
    expect(admission.admit(socket)).toBe(false);
    expect(socket.destroyed).toBe(true);
    expect(admission.counts().open).toBe(0);
  });

  it("counts IPv6 addresses by their /64 and an IPv4-mapped address as its IPv4 one", () => {
    expect(clientOf("2001:db8:1:2::a")).toBe("2001:db8:1:2::/64");
    expect(clientOf("2001:0db8:0001:0002:ffff:0:0:b")).toBe("2001:db8:1:2::/64");
    expect(clientOf("::1")).toBe("0:0:0:0::/64");
    expect(clientOf("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(clientOf("::ffff:192.0.2.1")).toBe("192.0.2.1");
    const admission = new Admission({ ...caps, openCountMax: 10, unauthenticatedCountMax: 10 });
    const sameHost = ["2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2::c"].map(socketFrom);
    for (const socket of sameHost) admission.admit(socket);
    admission.admit(socketFrom("2001:db8:1:2::d"));
    expect(sameHost.map((socket) => socket.destroyed)).toEqual([true, false, false]);
  });
});

import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ConfigInvalid, SpoolUnreachable } from "@spool/core";
import { afterEach, describe, expect, it } from "vitest";
import { connectSocketWriter, openSpool, serveWriters } from "../src/index.js";
import {
  decodeSpoolFrame,
  encodeConnect,
  FrameReader,
  type SpoolFrame,
} from "../src/transports/SocketFrames.js";

const writerScript = new URL("./processes/socketWriter.ts", import.meta.url).pathname;
const serverScript = new URL("./processes/socketServer.ts", import.meta.url).pathname;
const NOBODY = 65534;
// The process tests' timeouts (180 s) are bounds for a loaded machine, not targets: each starts
// processes through tsx, seconds each with both cores busy (34 s for the restart test).

interface Child {
  readonly child: ChildProcess;
  readonly acked: Map<number, string>;
  readonly failed: { tag: string; message: string }[];
  /** Resolves with the exit code (null when killed). */
  readonly exited: Promise<number | null>;
  /** Resolves once the child printed a line matching `test`. */
  readonly saw: (test: (line: Record<string, unknown>) => boolean) => Promise<void>;
}

/** Runs a test process script (TypeScript, through tsx), parsing its JSON lines. */
function run(script: string, args: readonly string[], uid?: number): Child {
  const child = spawn(
    process.execPath,
    ["--conditions=spool-source", "--import", "tsx", script, ...args],
    { stdio: ["ignore", "pipe", "inherit"], ...(uid === undefined ? {} : { uid, gid: uid }) },
  );
  const acked = new Map<number, string>();
  const failed: { tag: string; message: string }[] = [];
  const lines: Record<string, unknown>[] = [];
  const watchers: { test: (line: Record<string, unknown>) => boolean; done: () => void }[] = [];
  let buffered = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const complete = buffered.split("\n");
    buffered = complete.pop()!;
    for (const text of complete) {
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      if (Array.isArray(line.acked)) acked.set(line.acked[0] as number, line.acked[1] as string);
      if (typeof line.failed === "string") {
        failed.push({ tag: line.failed, message: String(line.message) });
      }
      for (const watcher of watchers) if (watcher.test(line)) watcher.done();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const saw = (test: (line: Record<string, unknown>) => boolean) =>
    lines.some(test)
      ? Promise.resolve()
      : new Promise<void>((done) => watchers.push({ test, done }));
  return { child, acked, failed, exited, saw };
}

/**
 * A writer of another user, self-contained: node's builtins only, run from `-e` in `/`, so it
 * needs nothing from this checkout (which that user may not be able to read, as in a clone
 * made inside a `mktemp -d` directory). It sends the `connect` frame built here, and prints
 * the connection's error code or every byte the spool sent until it closed.
 */
const FOREIGN_WRITER = `
const net = require("node:net");
const [socketPath, connectHex] = process.argv.slice(1);
const socket = net.createConnection(socketPath);
const received = [];
let error;
socket.on("connect", () => socket.write(Buffer.from(connectHex, "hex")));
socket.on("data", (chunk) => received.push(chunk));
socket.on("error", (failure) => { error = failure.code ?? failure.message; });
socket.on("close", () => {
  const bytes = Buffer.concat(received).toString("hex");
  process.stdout.write(JSON.stringify({ error, bytes }) + "\\n");
});
`;

/** What the spool answered a connection from a process of user `uid`: the frames, or an error. */
async function connectAs(
  uid: number,
  socketPath: string,
): Promise<{ error?: string; frames: SpoolFrame[] }> {
  const connect = Buffer.from(encodeConnect(process.pid)).toString("hex");
  const child = spawn(process.execPath, ["-e", FOREIGN_WRITER, socketPath, connect], {
    cwd: "/",
    uid,
    gid: uid,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  expect(code).toBe(0);
  const { error, bytes } = JSON.parse(output) as { error?: string; bytes: string };
  const bodies = new FrameReader(1 << 20).push(Buffer.from(bytes, "hex"));
  return { ...(error === undefined ? {} : { error }), frames: bodies.map(decodeSpoolFrame) };
}

const writerProcess = (socketPath: string, tag: string, count: number, inFlight = 16) =>
  run(writerScript, [socketPath, tag, String(count), String(inFlight)]);

async function recordsIn(dir: string): Promise<Map<number, string>> {
  const spool = await openSpool({ dir });
  const found = new Map<number, string>();
  for await (const record of spool.records()) {
    found.set(record.seq, new TextDecoder().decode(record.payload));
  }
  await spool.close();
  return found;
}

function expectKept(found: Map<number, string>, acked: Iterable<[number, string]>): number {
  let count = 0;
  for (const [seq, payload] of acked) {
    expect(found.get(seq)).toBe(payload);
    count += 1;
  }
  return count;
}

const dirs: string[] = [];
async function spoolDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "spool-socket-"));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe("writers in other processes (claim 34 across processes)", () => {
  it("three processes and the spool's own process append through one synchronizer, and every acknowledged append is kept", async () => {
    const dir = await spoolDir();
    const spool = await openSpool({ dir });
    const server = await serveWriters(spool);
    const children = ["a", "b", "c"].map((tag) => writerProcess(server.path, tag, 400));
    const own = spool.writer();
    const ownAcked = new Map<number, string>();
    for (let n = 0; n < 200; n++) {
      const payload = `own-${n}`;
      ownAcked.set((await own.append(payload)).seq, payload);
    }
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0]);
    await server.close();
    await spool.close();
    const found = await recordsIn(dir);
    const kept = children.reduce((sum, c) => sum + expectKept(found, c.acked), 0);
    expect(kept).toBe(1200);
    expect(expectKept(found, ownAcked)).toBe(200);
    expect(found.size).toBe(1400);
  }, 180_000);

  it("a writer process killed mid-stream costs the others nothing, and what it was promised is kept", async () => {
    const dir = await spoolDir();
    const spool = await openSpool({ dir });
    const server = await serveWriters(spool);
    const doomed = writerProcess(server.path, "doomed", 1_000_000, 32);
    const survivor = writerProcess(server.path, "survivor", 1000);
    await doomed.saw((line) => Array.isArray(line.acked) && (line.acked[0] as number) > 300);
    doomed.child.kill("SIGKILL");
    expect(await doomed.exited).toBe(null);
    expect(await survivor.exited).toBe(0);
    const after = await spool.writer().append("after the kill");
    while (server.sessions > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await server.close();
    await spool.close();
    const found = await recordsIn(dir);
    expect(expectKept(found, survivor.acked)).toBe(1000);
    expect(expectKept(found, doomed.acked)).toBeGreaterThan(0);
    expect(found.get(after.seq)).toBe("after the kill");
  }, 180_000);

  it("the spool's process killed mid-stream: pending appends fail with SpoolUnreachable, and a restarted spool keeps every acknowledged append", async () => {
    const dir = await spoolDir();
    const first = run(serverScript, [dir, "10000"]);
    await first.saw((line) => typeof line.serving === "string");
    const socketPath = path.join(dir, "run", "writers.sock");
    const writer = await connectSocketWriter(socketPath);
    const acked = new Map<number, string>();
    const failures: unknown[] = [];
    let n = 0;
    const lanes = Array.from({ length: 16 }, async () => {
      for (;;) {
        const payload = `before-${n++}`;
        try {
          acked.set((await writer.append(payload)).seq, payload);
        } catch (error) {
          failures.push(error);
          return;
        }
        if (acked.size === 500) first.child.kill("SIGKILL");
      }
    });
    await Promise.all(lanes);
    expect(await first.exited).toBe(null);
    expect(failures.length).toBe(16);
    for (const failure of failures) expect(failure).toBeInstanceOf(SpoolUnreachable);
    // Later appends on the lost connection fail at once, with the same error.
    await expect(writer.append("too late")).rejects.toBeInstanceOf(SpoolUnreachable);

    const second = run(serverScript, [dir, "10000"]);
    await second.saw((line) => typeof line.serving === "string");
    const again = await connectSocketWriter(socketPath);
    const after = await again.append("after the restart");
    again.close();
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    const found = await recordsIn(dir);
    expect(expectKept(found, acked)).toBeGreaterThanOrEqual(500);
    expect(found.get(after.seq)).toBe("after the restart");
  }, 180_000);

  it("a process of another user is refused: by the directory's mode, and by its credentials where the mode was loosened", async () => {
    const dir = await spoolDir();
    await chmod(dir, 0o755);
    const spool = await openSpool({ dir });
    const server = await serveWriters(spool);
    const blocked = await connectAs(NOBODY, server.path);
    expect(blocked).toEqual({ error: "EACCES", frames: [] });
    // Someone opened the directory and the socket to everyone: the credential check still holds.
    await chmod(path.dirname(server.path), 0o755);
    await chmod(server.path, 0o777);
    const refused = await connectAs(NOBODY, server.path);
    expect(refused.error).toBeUndefined();
    expect(refused.frames).toEqual([
      {
        t: "refused",
        reason: expect.stringContaining(`uid ${NOBODY} may not write to this spool`),
      },
    ]);
    await server.close();
    await spool.close();
    expect((await recordsIn(dir)).size).toBe(0);
  }, 180_000);

  it("a malformed or oversize frame closes that connection only", async () => {
    const dir = await spoolDir();
    const spool = await openSpool({ dir });
    const server = await serveWriters(spool);
    const writer = await connectSocketWriter(server.path);
    const refusalOf = async (bytes: Uint8Array): Promise<string> => {
      const socket = net.createConnection(server.path);
      let received = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
      });
      socket.write(bytes);
      await new Promise((resolve) => socket.on("close", resolve));
      // The last frame the spool sent: `refused`, type 3, with its reason.
      const frames: Buffer[] = [];
      for (let at = 0; at < received.byteLength; ) {
        const length = received.readUInt32LE(at);
        frames.push(received.subarray(at + 4, at + 4 + length));
        at += 4 + length;
      }
      const last = frames.at(-1)!;
      expect(last[0]).toBe(3);
      return last.subarray(5).toString("utf8");
    };
    const oversize = Buffer.alloc(8);
    oversize.writeUInt32LE(2 ** 31, 0);
    expect(await refusalOf(oversize)).toMatch(/protocol error: frame of 2147483648 bytes/);
    const unknownType = Buffer.from([1, 0, 0, 0, 99]);
    expect(await refusalOf(unknownType)).toMatch(
      /protocol error: the first frame must be connect|unknown frame type 99/,
    );
    const notSpool = Buffer.from([5, 0, 0, 0, 1, 1, 0, 0, 0]);
    expect(await refusalOf(notSpool)).toMatch(/protocol error: frame too short/);
    // The well-behaved writer never noticed.
    const { seq } = await writer.append("still here");
    writer.close();
    await server.close();
    await spool.close();
    expect((await recordsIn(dir)).get(seq)).toBe("still here");
  }, 180_000);

  it("a writer process stopped past its lease is refused: the spool goes on without it, and on waking its appends fail", async () => {
    const dir = await spoolDir();
    const spool = await openSpool({ dir });
    const server = await serveWriters(spool, { leaseMs: 300 });
    const sleeper = writerProcess(server.path, "sleeper", 1_000_000, 8);
    await sleeper.saw((line) => Array.isArray(line.acked));
    sleeper.child.kill("SIGSTOP");
    const stoppedWith = sleeper.acked.size;
    while (server.sessions > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    // Nothing from the stopped process is waited for: the spool's own writer goes on.
    const own = await spool.writer().append("while it sleeps");
    sleeper.child.kill("SIGCONT");
    expect(await sleeper.exited).toBe(0);
    expect(sleeper.failed.length).toBeGreaterThan(0);
    for (const failure of sleeper.failed) {
      expect(failure.tag).toBe("SpoolUnreachable");
      expect(failure.message).toContain("lease expired");
    }
    await server.close();
    await spool.close();
    const found = await recordsIn(dir);
    expect(found.get(own.seq)).toBe("while it sleeps");
    expect(expectKept(found, sleeper.acked)).toBeGreaterThanOrEqual(stoppedWith);
  }, 180_000);
});

describe("the socket's path", () => {
  it("a regular file at the path is refused with ConfigInvalid and left intact", async () => {
    const dir = await spoolDir();
    const shared = await spoolDir();
    const occupied = path.join(shared, "not-a-socket");
    await writeFile(occupied, "someone else's data");
    const spool = await openSpool({ dir });
    try {
      const served = serveWriters(spool, { path: occupied });
      await expect(served).rejects.toBeInstanceOf(ConfigInvalid);
      await expect(served).rejects.toMatchObject({ field: "path" });
      expect(await readFile(occupied, "utf8")).toBe("someone else's data");
    } finally {
      await spool.close();
    }
  });

  it("a socket another server answers on is refused and keeps answering", async () => {
    const dir = await spoolDir();
    const shared = await spoolDir();
    const live = path.join(shared, "live.sock");
    const other = net.createServer((socket) => {
      // A probe that hangs up at once resets the connection: not this test's concern.
      socket.on("error", () => undefined);
      socket.end("still mine");
    });
    await new Promise<void>((resolve) => other.listen(live, resolve));
    const spool = await openSpool({ dir });
    try {
      await expect(serveWriters(spool, { path: live })).rejects.toBeInstanceOf(ConfigInvalid);
      const answer = await new Promise<string>((resolve) => {
        const socket = net.createConnection(live);
        let text = "";
        socket.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
        socket.on("close", () => resolve(text));
      });
      expect(answer).toBe("still mine");
    } finally {
      await spool.close();
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it("a directory that already existed keeps its mode (0755 stays 0755)", async () => {
    const dir = await spoolDir();
    const shared = await spoolDir();
    await chmod(shared, 0o755);
    const spool = await openSpool({ dir });
    const server = await serveWriters(spool, { path: path.join(shared, "writers.sock") });
    try {
      expect((await stat(shared)).mode & 0o777).toBe(0o755);
    } finally {
      await server.close();
      await spool.close();
    }
    expect((await stat(shared)).mode & 0o777).toBe(0o755);
  });

  it("a directory it makes for the socket is 0700 whatever the umask", async () => {
    const dir = await spoolDir();
    const before = process.umask(0o022);
    try {
      const spool = await openSpool({ dir });
      const server = await serveWriters(spool);
      expect((await stat(path.dirname(server.path))).mode & 0o777).toBe(0o700);
      await server.close();
      await spool.close();
    } finally {
      process.umask(before);
    }
  });
});

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from "vitest";
import { type PeerCredentials, peerCredentials } from "../src/index.js";

// The child runs as nobody (uid 65534 on Debian) with a group id unlike its uid, so a uid and
// gid swapped anywhere on the way out of the kernel shows up; neither needs to exist in /etc.
const CHILD_UID = 65534;
const CHILD_GID = 65533;

let directory: string;
let servers: Server[];
let clients: Socket[];
let children: ChildProcess[];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "peercred-"));
  servers = [];
  clients = [];
  children = [];
});

afterEach(async () => {
  for (const child of children) child.kill();
  for (const client of clients) client.destroy();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await rm(directory, { recursive: true, force: true });
});

/** Listens on `address` and resolves the server side of its first connection. */
async function listen(address: string | { host: string; port: number }): Promise<{
  server: Server;
  accepted: Promise<Socket>;
}> {
  const server = createServer();
  servers.push(server);
  const accepted = once(server, "connection").then(([socket]) => socket as Socket);
  server.listen(address);
  await once(server, "listening");
  return { server, accepted };
}

describe("peerCredentials", () => {
  it("gives this process's pid, uid and gid for a connection from this process", async () => {
    const socketPath = join(directory, "same.sock");
    const { accepted } = await listen(socketPath);
    clients.push(connect(socketPath));

    const credentials = peerCredentials(await accepted);

    expect(credentials).toEqual({
      pid: process.pid,
      uid: process.getuid!(),
      gid: process.getgid!(),
    });
  });

  it("gives the child's pid, uid and gid for a connection from a child of another user", async () => {
    // The child runs as another user, so it needs to search the directory and write the socket.
    await chmod(directory, 0o777);
    const socketPath = join(directory, "other.sock");
    const { accepted } = await listen(socketPath);
    await chmod(socketPath, 0o777);

    // The child connects and stays until the server ends the connection, so its pid is live.
    const script = `const s = require("node:net").connect(process.argv[1]);
      s.on("end", () => s.end()); s.on("error", (e) => { console.error(e); process.exit(2); });`;
    const child = spawn(process.execPath, ["-e", script, socketPath], {
      uid: CHILD_UID,
      gid: CHILD_GID,
      cwd: directory,
      stdio: ["ignore", "ignore", "inherit"],
    });
    children.push(child);
    const socket = await accepted;

    const credentials = peerCredentials(socket);
    socket.end();
    const [exitCode] = await once(child, "exit");

    expect(child.pid).toBeTypeOf("number");
    expect(credentials).toEqual({ pid: child.pid, uid: CHILD_UID, gid: CHILD_GID });
    expect(exitCode).toBe(0);
  });

  it("throws EAFNOSUPPORT for a TCP socket instead of Linux's pid 0 and uid -1", async () => {
    const { server, accepted } = await listen({ host: "127.0.0.1", port: 0 });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("expected a TCP port");
    clients.push(connect({ host: "127.0.0.1", port: address.port }));
    const socket = await accepted;

    expect(() => peerCredentials(socket)).toThrow(
      expect.objectContaining({ code: "EAFNOSUPPORT", syscall: "getsockopt" }),
    );
    expect(() => peerCredentials(socket)).toThrow(/Unix-domain socket/);
  });

  it("throws EBADF for a socket that has no descriptor", async () => {
    const socketPath = join(directory, "destroyed.sock");
    const { accepted } = await listen(socketPath);
    clients.push(connect(socketPath));
    const socket = await accepted;
    socket.destroy();

    expect(() => peerCredentials(socket)).toThrow(expect.objectContaining({ code: "EBADF" }));
    expect(() => peerCredentials(socket)).toThrow(/no file descriptor/);
  });

  it("returns read-only credentials", () => {
    expectTypeOf(peerCredentials).returns.toEqualTypeOf<PeerCredentials>();
    expectTypeOf<PeerCredentials>().toEqualTypeOf<{
      readonly pid: number;
      readonly uid: number;
      readonly gid: number;
    }>();
  });
});

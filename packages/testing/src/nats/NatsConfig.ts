/**
 * What a test server needs before it starts: the nats-server binary, free loopback ports and
 * its configuration file's text. Test-only code.
 */
import assert from "node:assert/strict";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";

/**
 * The loopback address every test server listens on, for clients, routes and monitoring.
 *
 * @example
 * const url = `nats://${HOST}:4223`;
 */
export const HOST = "127.0.0.1";
// Each server's JetStream file storage limit: modest, since three servers share one test disk.
// Tests that write more (benchmarks) raise it with `fileStoreBytesMax`.
const FILE_STORE_BYTES_MAX = 256 * 1024 * 1024;
const MEMORY_STORE_BYTES_MAX = 64 * 1024 * 1024;

/**
 * One server's place in the cluster: what its configuration file says.
 *
 * @example
 * const ports = { clientPort: 4223, monitorPort: 8223, routePort: 6223 };
 * const n1: ServerLayout = { name: "n1", ...ports, dir: "/tmp/spool-nats-n1-x" };
 */
export interface ServerLayout {
  readonly name: string;
  readonly clientPort: number;
  readonly monitorPort: number;
  readonly routePort: number;
  readonly dir: string;
}

/**
 * The nats-server configuration of one server: its name, ports, JetStream store under its
 * directory and, when `peers` has others, a cluster block with routes to each of them.
 *
 * @example
 * const peers = [n1, n2, n3];
 * const text = natsConfig({ server: n1, peers, clusterName: "c", fileStoreBytesMax: undefined });
 */
export function natsConfig(input: {
  readonly server: ServerLayout;
  readonly peers: readonly ServerLayout[];
  readonly clusterName: string;
  readonly fileStoreBytesMax: number | undefined;
}): string {
  const { server } = input;
  const storeDir = join(server.dir, "store");
  const lines = [
    `server_name: ${server.name}`,
    `listen: "${HOST}:${server.clientPort}"`,
    `http: "${HOST}:${server.monitorPort}"`,
    "logtime: true",
    "jetstream {",
    `  store_dir: ${JSON.stringify(storeDir)}`,
    `  max_file_store: ${input.fileStoreBytesMax ?? FILE_STORE_BYTES_MAX}`,
    `  max_memory_store: ${MEMORY_STORE_BYTES_MAX}`,
    "}",
  ];
  const others = input.peers.filter((peer) => peer.name !== server.name);
  if (others.length > 0) {
    const routes = others.map((peer) => `    "nats-route://${HOST}:${peer.routePort}"`);
    lines.push(
      "cluster {",
      `  name: ${JSON.stringify(input.clusterName)}`,
      `  listen: "${HOST}:${server.routePort}"`,
      "  routes: [",
      ...routes,
      "  ]",
      "}",
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The executable's path, or a clear error saying how to install it.
 *
 * @example
 * const binary = findOnPath("nats-server"); // "/usr/sbin/nats-server"
 */
export function findOnPath(command: string): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory: look in the next.
    }
  }
  throw new Error(
    `${command} not found on the PATH: install Debian's nats-server (apt-get install ` +
      "nats-server) or put a nats-server 2.9 or later binary on the PATH",
  );
}

/**
 * `count` distinct ports free on the loopback address now: all are held open together, so no
 * two are the same, then released for the servers. Another process could take one in between;
 * the server would then exit and the readiness wait report its log.
 *
 * @example
 * const [clientPort, monitorPort, routePort] = await freePorts(3);
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once("error", reject);
          server.listen(0, HOST, () => {
            const address = server.address();
            assert.ok(address !== null && typeof address === "object", "a TCP address");
            resolve(address.port);
          });
        }),
    ),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  assert.equal(new Set(ports).size, count, "distinct ports");
  return ports;
}

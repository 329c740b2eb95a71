/**
 * A nats-server of the test's own, JetStream on, on free loopback ports with its store in a
 * temporary directory: started and stopped by the test, never the machine's shared server.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { until } from "./FrontDoor.js";

/** A running nats-server. */
export interface NatsServer {
  /** Its client URL: `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Stops it (SIGTERM, then waits for its exit) and removes its store. */
  stop(): Promise<void>;
}

/** A port free on loopback now (the server takes it a moment later). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Starts `nats-server -js` and resolves once its monitoring port's `/healthz` answers 200 (the
 * server is up and JetStream ready). Rejects naming the cause when `nats-server` is not on the
 * PATH, or when it exits before it is healthy (with what it printed).
 *
 * @example
 * const nats = await startNatsServer();
 * await nats.stop();
 */
export async function startNatsServer(): Promise<NatsServer> {
  const probe = spawnSync("nats-server", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined) {
    throw new Error(
      `nats-server is not on the PATH (${probe.error.message}): these tests start their own ` +
        "server; install nats-server 2.9 or later",
    );
  }
  const store = await mkdtemp(path.join(tmpdir(), "mms-nats-"));
  const [port, monitorPort] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(
    "nats-server",
    ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store, "-m", String(monitorPort)],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let printed = "";
  child.stderr!.on("data", (chunk: Buffer) => (printed += chunk.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const stop = async () => {
    if (exitCode === undefined) child.kill("SIGTERM");
    await exited;
    await rm(store, { recursive: true, force: true });
  };
  try {
    await until(async () => {
      if (exitCode !== undefined) {
        throw new Error(`nats-server exited (code ${exitCode}) before it was ready:\n${printed}`);
      }
      const answer = await fetch(`http://127.0.0.1:${monitorPort}/healthz`).catch(() => null);
      await answer?.body?.cancel();
      return answer?.status === 200;
    }, "nats-server's /healthz");
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `nats://127.0.0.1:${port}`, stop };
}

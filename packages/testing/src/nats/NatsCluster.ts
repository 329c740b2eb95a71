/**
 * A NATS JetStream cluster of real `nats-server` processes for tests: one server or three, each
 * with its own configuration file, temporary store directory, log file and free ports, and the
 * faults a test needs (kill, restart, pause, resume). Test-only code.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findOnPath, freePorts, HOST, natsConfig, type ServerLayout } from "./NatsConfig.js";
import {
  agreedLeader,
  consumerLeaderView,
  type Jsz,
  jsz,
  type LeaderView,
  metaLeaderView,
  type Probe,
  streamLeaderView,
  unhealthyReason,
  waitUntil,
} from "./NatsMonitoring.js";

const NATS_SERVER = "nats-server";
// A cold start of three servers that elect a meta leader takes 2-5 s here; a restarted server
// catches up on its streams within seconds. Sixty seconds bounds a stuck wait, not a slow one.
const READY_TIMEOUT_MS = 60_000;
// Log lines quoted in an error: enough for the last election or the reason a server exited.
const LOG_TAIL_LINES = 30;

/**
 * How to start a test cluster.
 *
 * @example
 * const options: NatsClusterOptions = { size: 3, fileStoreBytesMax: 1024 ** 3 };
 */
export interface NatsClusterOptions {
  /** 1: a standalone JetStream server; 3: a cluster of three routed servers. */
  readonly size: 1 | 3;
  /** The cluster's name (three servers only); "spool-test" by default. */
  readonly clusterName?: string;
  /** Each server's `max_file_store` in bytes; 256 MiB by default. */
  readonly fileStoreBytesMax?: number;
  /** The bound on every wait for readiness or a leader; 60 s by default. */
  readonly readyTimeoutMs?: number;
}

/**
 * One server of the cluster, as a test sees it: a snapshot, taken anew by each `servers` read.
 *
 * @example
 * const [n1]: readonly NatsServer[] = cluster.servers;
 */
export interface NatsServer {
  /** n1, n2 or n3: the `server_name`, the name JetStream reports leaders by. */
  readonly name: string;
  /** Its client URL, `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its monitoring URL, `http://127.0.0.1:<port>`. */
  readonly monitorUrl: string;
  /** The running process's id; undefined once killed. */
  readonly pid: number | undefined;
  /** Its temporary directory: `nats.conf`, `nats.log` and the store under `store/`. */
  readonly dir: string;
  readonly state: "running" | "paused" | "killed";
}

interface Member extends ServerLayout {
  process: ChildProcess | undefined;
  state: "running" | "paused" | "killed";
}

/**
 * Starts `size` JetStream servers and resolves once every one is healthy and all agree on a
 * meta leader. Call `stop()` when done (in `afterAll`); it is idempotent.
 *
 * @example
 * const cluster = await startNatsCluster({ size: 3 });
 * const nc = await connect({ servers: cluster.urls().split(",") });
 * // ... create a stream with num_replicas: 3, then:
 * const leader = await cluster.waitForStreamLeader("ORDERS");
 * await cluster.kill(leader);
 * await cluster.waitForStreamLeader("ORDERS", { not: leader });
 * await cluster.restart(leader);
 * await cluster.stop();
 */
export async function startNatsCluster(options: NatsClusterOptions): Promise<NatsCluster> {
  assert.ok(options.size === 1 || options.size === 3, "size is 1 or 3");
  const binary = findOnPath(NATS_SERVER);
  const layouts = await layOut(options);
  const members = layouts.map(
    (layout): Member => ({ ...layout, process: undefined, state: "killed" }),
  );
  return NatsCluster.start(binary, members, options.readyTimeoutMs ?? READY_TIMEOUT_MS);
}

/** Ports, a temporary directory and a configuration file for each server; none left on failure. */
async function layOut(options: NatsClusterOptions): Promise<ServerLayout[]> {
  const ports = await freePorts(options.size * 3);
  const layouts: ServerLayout[] = [];
  try {
    for (let index = 0; index < options.size; index++) {
      const name = `n${index + 1}`;
      const dir = await mkdtemp(join(tmpdir(), `spool-nats-${name}-`));
      const [clientPort, monitorPort, routePort] = ports.slice(index * 3, index * 3 + 3);
      layouts.push({
        name,
        clientPort: clientPort!,
        monitorPort: monitorPort!,
        routePort: routePort!,
        dir,
      });
    }
    for (const server of layouts) {
      const config = natsConfig({
        server,
        peers: layouts,
        clusterName: options.clusterName ?? "spool-test",
        fileStoreBytesMax: options.fileStoreBytesMax,
      });
      await writeFile(join(server.dir, "nats.conf"), config);
    }
  } catch (error) {
    await Promise.all(layouts.map((layout) => rm(layout.dir, { recursive: true, force: true })));
    throw error;
  }
  return layouts;
}

/**
 * A running test cluster. Leaders are read from every running server's `/jsz` and taken only
 * when a majority of the group names the same server and that server, answering, names no
 * other (see `agreedLeader`): paused, killed, resumed and restarted servers leave stale views
 * behind for seconds.
 *
 * @example
 * const cluster = await startNatsCluster({ size: 3 });
 * cluster.pause("n2"); // SIGSTOP: a minority that hears nothing
 * cluster.resume("n2");
 * await cluster.stop();
 */
export class NatsCluster {
  readonly #binary: string;
  readonly #members: readonly Member[];
  readonly #readyTimeoutMs: number;
  readonly #onExit = () => this.#killAllNow();
  #stopped = false;

  private constructor(binary: string, members: readonly Member[], readyTimeoutMs: number) {
    this.#binary = binary;
    this.#members = members;
    this.#readyTimeoutMs = readyTimeoutMs;
    // A test process that dies without stop() must not leave servers behind.
    process.once("exit", this.#onExit);
  }

  /** Spawns the configured members and waits until they are ready; see `startNatsCluster`. */
  static async start(
    binary: string,
    members: readonly Member[],
    readyTimeoutMs: number,
  ): Promise<NatsCluster> {
    const cluster = new NatsCluster(binary, members, readyTimeoutMs);
    try {
      for (const member of members) cluster.#spawn(member);
      await cluster.#waitUntilReady(members.map((member) => member.name));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Each server's name, URLs, process id, directory and state, in order n1..n3. */
  get servers(): readonly NatsServer[] {
    return this.#members.map((member) => ({
      name: member.name,
      url: `nats://${HOST}:${member.clientPort}`,
      monitorUrl: this.#monitorUrl(member),
      pid: member.state === "killed" ? undefined : member.process?.pid,
      dir: member.dir,
      state: member.state,
    }));
  }

  /** Every server's client URL, comma-joined (killed ones too: a client skips them). */
  urls(): string {
    return this.servers.map((server) => server.url).join(",");
  }

  /** The stream's leader as a majority of its group agrees, or undefined while none does. */
  async streamLeader(stream: string): Promise<string | undefined> {
    const views = await this.#views((server, answer) => streamLeaderView(server, answer, stream));
    return agreedLeader(views);
  }

  /** The consumer's leader as a majority of its group agrees, or undefined while none does. */
  async consumerLeader(stream: string, consumer: string): Promise<string | undefined> {
    const views = await this.#views((server, answer) =>
      consumerLeaderView(server, answer, stream, consumer),
    );
    return agreedLeader(views);
  }

  /** Waits until a majority agrees on the stream's leader, other than `not` when given. */
  async waitForStreamLeader(stream: string, options: { not?: string } = {}): Promise<string> {
    return this.#waitForLeader(`a leader of stream ${stream}`, options.not, () =>
      this.streamLeader(stream),
    );
  }

  /** Waits until a majority agrees on the consumer's leader, other than `not` when given. */
  async waitForConsumerLeader(
    stream: string,
    consumer: string,
    options: { not?: string } = {},
  ): Promise<string> {
    return this.#waitForLeader(`a leader of consumer ${stream}/${consumer}`, options.not, () =>
      this.consumerLeader(stream, consumer),
    );
  }

  /** SIGKILLs the server and resolves once its process has exited. */
  async kill(name: string): Promise<void> {
    const member = this.#member(name);
    assert.notEqual(member.state, "killed", `${name} is already killed`);
    const child = member.process!;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
    child.kill("SIGKILL");
    await exited;
    member.state = "killed";
  }

  /**
   * Starts the server again with its configuration and store (SIGKILLing it first if it runs),
   * and resolves once it is healthy and names the meta leader the others name: it has rejoined.
   */
  async restart(name: string): Promise<void> {
    const member = this.#member(name);
    if (member.state !== "killed") await this.kill(name);
    this.#spawn(member);
    await this.#waitUntilReady([name]);
  }

  /** SIGSTOPs the server: it keeps its sockets but answers nothing until `resume`. */
  pause(name: string): void {
    const member = this.#member(name);
    assert.equal(member.state, "running", `${name} is running`);
    member.process!.kill("SIGSTOP");
    member.state = "paused";
  }

  /** SIGCONTs a paused server. */
  resume(name: string): void {
    const member = this.#member(name);
    assert.equal(member.state, "paused", `${name} is paused`);
    member.process!.kill("SIGCONT");
    member.state = "running";
  }

  /** The last lines of the server's log (its stderr and stdout). */
  logTail(name: string, lines = LOG_TAIL_LINES): string {
    const member = this.#member(name);
    try {
      const text = readFileSync(join(member.dir, "nats.log"), "utf8");
      return text.trimEnd().split("\n").slice(-lines).join("\n");
    } catch (error) {
      return `(no log: ${String(error)})`;
    }
  }

  /** SIGKILLs every server, waits for them to exit and removes their directories. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    process.removeListener("exit", this.#onExit);
    for (const member of this.#members) {
      if (member.state !== "killed") await this.kill(member.name);
    }
    for (const member of this.#members) {
      await rm(member.dir, { recursive: true, force: true });
    }
  }

  /** Starts the member's process, its output appended to `nats.log` in its directory. */
  #spawn(member: Member): void {
    assert.equal(member.state, "killed", `${member.name} is not running`);
    assert.ok(!this.#stopped, "the cluster is stopped");
    const log = openSync(join(member.dir, "nats.log"), "a");
    try {
      member.process = spawn(this.#binary, ["-c", join(member.dir, "nats.conf")], {
        stdio: ["ignore", log, log],
      });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(log);
    }
    // A spawn failure arrives as an event; the readiness wait then reports the exit.
    member.process.on("error", () => {});
    member.state = "running";
  }

  /**
   * Waits until each named server answers `/healthz` and names the same meta leader as every
   * other running server (a standalone server leads itself).
   */
  async #waitUntilReady(names: readonly string[]): Promise<void> {
    await waitUntil({
      what: `${names.join(", ")} to be healthy and agree on a meta leader`,
      timeoutMs: this.#readyTimeoutMs,
      probe: () => this.#probeReady(names),
      context: () => this.#logTails(),
    });
  }

  async #probeReady(names: readonly string[]): Promise<Probe<void>> {
    for (const name of names) {
      const member = this.#member(name);
      this.#assertAlive(member);
      const reason = await unhealthyReason(this.#monitorUrl(member));
      if (reason !== undefined) return { done: false, reason: `${name}: ${reason}` };
    }
    const views = await this.#views((server, answer) => metaLeaderView(server, answer));
    const leader = agreedLeader(views);
    const lagging = names.filter((name) => {
      const view = views.find((each) => each.server === name);
      return name !== leader && view?.leader !== leader;
    });
    if (leader !== undefined && lagging.length === 0) return { done: true, value: undefined };
    const seen = views.map((view) => `${view.server}→${view.leader ?? "?"}`).join(" ");
    return { done: false, reason: `meta leaders named: ${seen}` };
  }

  async #views(
    view: (server: string, answer: Jsz) => LeaderView | undefined,
  ): Promise<LeaderView[]> {
    const running = this.servers.filter((server) => server.state === "running");
    const answers = await Promise.all(running.map((server) => jsz(server.monitorUrl)));
    return running.flatMap((server, index) => {
      const answer = answers[index];
      const found = answer === undefined ? undefined : view(server.name, answer);
      return found === undefined ? [] : [found];
    });
  }

  async #waitForLeader(
    what: string,
    not: string | undefined,
    leader: () => Promise<string | undefined>,
  ): Promise<string> {
    return waitUntil({
      what: not === undefined ? what : `${what} other than ${not}`,
      timeoutMs: this.#readyTimeoutMs,
      probe: async (): Promise<Probe<string>> => {
        for (const member of this.#members) this.#assertAlive(member);
        const found = await leader();
        if (found !== undefined && found !== not) return { done: true, value: found };
        return { done: false, reason: `agreed leader: ${found ?? "none"}` };
      },
      context: () => this.#logTails(),
    });
  }

  /** Throws, with its log, when a server exited that the harness did not kill. */
  #assertAlive(member: Member): void {
    if (member.state === "killed") return;
    const child = member.process!;
    if (child.exitCode === null && child.signalCode === null) return;
    const how = child.exitCode === null ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
    const log = this.logTail(member.name);
    throw new Error(`nats-server ${member.name} exited (${how}); the end of its log:\n${log}`);
  }

  #monitorUrl(member: Member): string {
    return `http://${HOST}:${member.monitorPort}`;
  }

  #logTails(): string {
    return this.#members
      .map(
        (member) => `--- ${member.name} (${member.state}) nats.log:\n${this.logTail(member.name)}`,
      )
      .join("\n");
  }

  #member(name: string): Member {
    const member = this.#members.find((each) => each.name === name);
    assert.ok(member !== undefined, `no server named ${name}`);
    return member;
  }

  /**
   * Runs at process exit (a crash included), where only synchronous work runs: SIGKILL every
   * server and remove the directories. A server still dying can leave a file behind; that is
   * the price of not waiting here.
   */
  #killAllNow(): void {
    for (const member of this.#members) {
      if (member.state !== "killed") member.process?.kill("SIGKILL");
    }
    for (const member of this.#members) {
      try {
        rmSync(member.dir, { recursive: true, force: true });
      } catch {
        // Best effort at exit: a temporary directory left behind is not worth a second crash.
      }
    }
  }
}

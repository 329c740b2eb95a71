/**
 * The NATS servers of a run's JetStream rows, held by the run (main.ts), not by a case: one
 * server for the r1 rows and a cluster of three on loopback for the r3 rows, each started
 * before the first case that needs it and stopped after the last, on free ports of their own
 * (never the shared server on 4222). A cluster's start (2-5 s for three servers) is then paid
 * once per run rather than per case, which keeps `--quick` short; each case still gets a fresh
 * stream (JetStreamSystems.ts).
 */
import { type NatsCluster, startNatsCluster } from "@spool/testing";
import { type CaseSpec, jetStreamReplicas } from "./Measurement.js";

/**
 * Each server's JetStream file store limit: the appenders' streams grow for the whole case (no
 * consumer drains them), at most 5 s at 100,000 msgs/s of 1 KiB, about 0.5 GiB, and every case
 * deletes its stream. Four times that leaves room for a faster machine.
 */
const FILE_STORE_BYTES_MAX = 2 * 1024 ** 3;

/** The servers for a case: their URLs (comma-separated), or why there are none. */
export type NatsServersFor = { readonly servers: string } | { readonly error: string };

/**
 * The run's servers, started on demand and stopped once no case left needs them.
 *
 * @example
 * const nats = new NatsServers(cases);
 * const found = await nats.serversFor(cases[0]);
 * await nats.release(0);
 */
export class NatsServers {
  readonly #cases: readonly CaseSpec[];
  readonly #clusters = new Map<1 | 3, NatsCluster | { readonly error: string }>();

  constructor(cases: readonly CaseSpec[]) {
    this.#cases = cases;
  }

  /**
   * The URLs of the servers for `spec` (started now if it is the first case to need them), an
   * error when they would not start (`nats-server` missing from the PATH, say), or undefined
   * for a case that runs on no JetStream.
   */
  async serversFor(spec: CaseSpec): Promise<NatsServersFor | undefined> {
    const replicas = jetStreamReplicas(spec.system);
    if (replicas === undefined) return undefined;
    const known = this.#clusters.get(replicas) ?? (await this.#start(replicas));
    return "error" in known ? known : { servers: known.urls() };
  }

  /** Stops the servers that no case after the `index`th needs. */
  async release(index: number): Promise<void> {
    for (const [replicas, cluster] of this.#clusters) {
      const later = this.#cases.slice(index + 1);
      if ("error" in cluster || later.some((spec) => jetStreamReplicas(spec.system) === replicas)) {
        continue;
      }
      await cluster.stop();
      this.#clusters.delete(replicas);
    }
  }

  async #start(replicas: 1 | 3): Promise<NatsCluster | { readonly error: string }> {
    const what = replicas === 1 ? "one nats-server" : "three nats-servers (a cluster)";
    process.stderr.write(`starting ${what} for the r${replicas} rows … `);
    const started = performance.now();
    let outcome: NatsCluster | { readonly error: string };
    try {
      outcome = await startNatsCluster({ size: replicas, fileStoreBytesMax: FILE_STORE_BYTES_MAX });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stderr.write(`ready in ${seconds} s (${outcome.urls()})\n`);
    } catch (error) {
      // Every case of the group reports it, and the run goes on (CI installs nats-server).
      const reason = error instanceof Error ? error.message.split("\n")[0]! : String(error);
      outcome = { error: `no JetStream servers for the r${replicas} rows: ${reason}` };
      process.stderr.write(`${outcome.error}\n`);
    }
    this.#clusters.set(replicas, outcome);
    return outcome;
  }
}

/**
 * What the test cluster learns from nats-server's HTTP monitoring port: `/healthz` and `/jsz`.
 * Test-only code: the store itself never reads the monitoring port.
 */

// A server that answers nothing in this long is paused, wedged or gone: the probe counts it as
// not answering and the caller's deadline decides. Two seconds is ten times the slowest `/jsz`
// seen on a busy two-core machine.
const MONITOR_REQUEST_TIMEOUT_MS = 2_000;
// Between two probes of a condition. Short enough that a test waits for readiness, not for the
// poll; long enough that 600 probes (a 60 s deadline) stay quiet in the servers' logs.
const POLL_INTERVAL_MS = 100;

/**
 * The part of nats-server 2.9's `/jsz?streams=true&consumers=true` answer the harness reads.
 *
 * @example
 * const meta = (await jsz("http://127.0.0.1:8222"))?.meta_cluster?.leader; // "n2"
 */
export interface Jsz {
  readonly meta_cluster?: { readonly leader?: string; readonly cluster_size?: number };
  readonly account_details?: readonly {
    readonly stream_detail?: readonly JszStream[];
  }[];
}

interface JszCluster {
  readonly leader?: string;
  readonly replicas?: readonly { readonly name: string }[];
}

interface JszStream {
  readonly name: string;
  readonly cluster?: JszCluster;
  readonly consumer_detail?: readonly { readonly name: string; readonly cluster?: JszCluster }[];
}

/**
 * One server's view of who leads a raft group: the stream's, a consumer's or the meta one.
 *
 * @example
 * const view: LeaderView = { server: "n1", leader: "n3", groupSize: 3 };
 */
export interface LeaderView {
  /** The server that answered. */
  readonly server: string;
  /** The leader it names; undefined while it knows none. */
  readonly leader: string | undefined;
  /** How many servers hold the group, by its own answer (1 + the replicas it lists). */
  readonly groupSize: number;
}

/**
 * The answer of `/healthz`: `undefined` when healthy, otherwise why not.
 *
 * @example
 * const reason = await unhealthyReason("http://127.0.0.1:8222"); // undefined when healthy
 */
export async function unhealthyReason(monitorUrl: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${monitorUrl}/healthz`, {
      signal: AbortSignal.timeout(MONITOR_REQUEST_TIMEOUT_MS),
    });
    if (response.ok) return undefined;
    return `healthz ${response.status}: ${await response.text()}`;
  } catch (error) {
    return `healthz unreachable: ${String(error)}`;
  }
}

/**
 * The server's `/jsz` with streams and consumers, or `undefined` when it does not answer.
 *
 * @example
 * const answer = await jsz("http://127.0.0.1:8222");
 */
export async function jsz(monitorUrl: string): Promise<Jsz | undefined> {
  try {
    const response = await fetch(`${monitorUrl}/jsz?streams=true&consumers=true`, {
      signal: AbortSignal.timeout(MONITOR_REQUEST_TIMEOUT_MS),
    });
    if (!response.ok) return undefined;
    return (await response.json()) as Jsz;
  } catch {
    return undefined;
  }
}

/**
 * The server's view of the stream's leader, or `undefined` when it does not hold the stream.
 * A standalone server (no cluster) names itself, since it holds every stream alone.
 *
 * @example
 * const view = streamLeaderView("n1", answer, "ORDERS"); // { server: "n1", leader: "n3", ... }
 */
export function streamLeaderView(
  server: string,
  answer: Jsz,
  stream: string,
): LeaderView | undefined {
  const found = streamsOf(answer).find((detail) => detail.name === stream);
  if (found === undefined) return undefined;
  return viewOf(server, found.cluster);
}

/**
 * The server's view of the consumer's leader, or `undefined` when it does not hold it.
 *
 * @example
 * const view = consumerLeaderView("n1", answer, "ORDERS", "worker");
 */
export function consumerLeaderView(
  server: string,
  answer: Jsz,
  stream: string,
  consumer: string,
): LeaderView | undefined {
  const found = streamsOf(answer).find((detail) => detail.name === stream);
  const detail = found?.consumer_detail?.find((each) => each.name === consumer);
  if (detail === undefined) return undefined;
  // nats-server 2.9 leaves `cluster` out of a standalone server's consumers: it leads them.
  return viewOf(server, detail.cluster ?? { leader: server });
}

function streamsOf(answer: Jsz): readonly JszStream[] {
  return (answer.account_details ?? []).flatMap((account) => account.stream_detail ?? []);
}

function viewOf(server: string, cluster: JszCluster | undefined): LeaderView {
  const leader = cluster?.leader === "" ? undefined : cluster?.leader;
  return { server, leader, groupSize: 1 + (cluster?.replicas?.length ?? 0) };
}

/**
 * The leader a group agrees on, or `undefined` while it agrees on none.
 *
 * Views go stale: for an election timeout (5-8 s here) after a leader is paused or killed, the
 * others still name it; a resumed server names the leader it knew until it hears of the newer
 * term; and a leader has been seen answering no leader about itself for seconds. So a name
 * counts when (1) the server it names answered and does not name another, and (2) a majority of
 * the group (its size from the largest replica list) names it. Two servers cannot both pass (2)
 * in one round of answers, and a deposed leader that still claims itself fails it.
 *
 * @example
 * agreedLeader([
 *   { server: "n1", leader: "n2", groupSize: 3 },
 *   { server: "n2", leader: "n2", groupSize: 3 },
 * ]); // "n2"
 */
export function agreedLeader(views: readonly LeaderView[]): string | undefined {
  const groupSize = Math.max(0, ...views.map((view) => view.groupSize));
  const majority = Math.floor(groupSize / 2) + 1;
  for (const view of views) {
    const named = view.leader;
    if (named === undefined) continue;
    const own = views.find((each) => each.server === named);
    if (own === undefined || (own.leader !== undefined && own.leader !== named)) continue;
    const votes = views.filter((each) => each.leader === named).length;
    if (votes >= majority) return named;
  }
  return undefined;
}

/**
 * The server's view of the meta leader (the cluster's JetStream leader); a standalone server
 * leads itself.
 *
 * @example
 * const view = metaLeaderView("n1", answer); // { server: "n1", leader: "n2", groupSize: 3 }
 */
export function metaLeaderView(server: string, answer: Jsz): LeaderView {
  const meta = answer.meta_cluster;
  if (meta === undefined) return { server, leader: server, groupSize: 1 };
  const leader = meta.leader === "" ? undefined : meta.leader;
  return { server, leader, groupSize: meta.cluster_size ?? 1 };
}

/**
 * A probe's answer: done with a value, or not yet and why (for the timeout's message).
 *
 * @example
 * const notYet: Probe<string> = { done: false, reason: "no leader" };
 */
export type Probe<T> =
  | { readonly done: true; readonly value: T }
  | { readonly done: false; readonly reason: string };

/**
 * Polls `probe` until it is done, or throws after `timeoutMs` naming what was awaited, the
 * last reason it was not done, and whatever `context` adds (the servers' log tails).
 *
 * @example
 * await waitUntil({
 *   what: "n1 to be healthy",
 *   timeoutMs: 60_000,
 *   probe: async () => ({ done: true, value: undefined }),
 *   context: () => "",
 * });
 */
export async function waitUntil<T>(options: {
  readonly what: string;
  readonly timeoutMs: number;
  readonly probe: () => Promise<Probe<T>>;
  readonly context: () => string;
}): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "not probed yet";
  for (;;) {
    const answer = await options.probe();
    if (answer.done) return answer.value;
    last = answer.reason;
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${options.what}: ${last}\n` +
          options.context(),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/**
 * The spool as the gateway uses it, whichever store holds it: `Spool` (a directory) and
 * `JetStreamSpool` (a NATS JetStream stream) both satisfy {@link GatewaySpool}. Where a stream
 * has to ask the cluster (`messageState`, `depth`) its answer is a promise, so the gateway
 * awaits both; what only a directory keeps (the messages by state, the recovery report) is
 * optional here, and shown only where it exists.
 */
import type { OpenReport, SpoolApi, SpoolApiStats, SpoolStats } from "@spool/actors";
import type { JetStreamSpool } from "@spool/jetstream";

export type { Awaitable } from "@spool/actors";

/**
 * The counters both stores keep, and the messages by state that only a directory counts (a
 * stream's consumer does not tell queued from leased or retrying for the whole stream).
 *
 * @example
 * const dead = spool.stats().messages?.dead; // undefined on a stream
 */
export type GatewaySpoolStats = SpoolApiStats & { readonly messages?: SpoolStats["messages"] };

/**
 * A spool of either store (Spool's own `SpoolApi`), with what the gateway reads where it exists.
 *
 * @example
 * const spool: GatewaySpool = await openSpool({ dir });
 * if ((await spool.messageState(seq)) === "done") console.log("delivered");
 */
export interface GatewaySpool extends SpoolApi {
  /** What opening a directory restored; a stream has nothing to restore. */
  readonly recovery?: OpenReport;
  stats(): GatewaySpoolStats;
}

/**
 * A JetStream spool as a {@link GatewaySpool}: it has every method the gateway uses.
 *
 * @example
 * const messages = streamGatewaySpool(await openJetStreamSpool({ servers, stream: "mms", replicas: 1 }));
 */
export function streamGatewaySpool(spool: JetStreamSpool): GatewaySpool {
  return spool;
}

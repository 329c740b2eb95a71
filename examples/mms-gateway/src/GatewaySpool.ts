/**
 * The spool as the gateway uses it, whichever store holds it: `Spool` (a directory) and
 * `JetStreamSpool` (a NATS JetStream stream) both satisfy {@link GatewaySpool}. Where a stream
 * has to ask the cluster (`messageState`, `depth`) its answer is a promise, so the gateway
 * awaits both; what only a directory keeps (the messages by state, the recovery report) is
 * optional here, and shown only where it exists.
 */
import type {
  BatchReport,
  ConsumeOptions,
  Consumer,
  DeadLetter,
  Lease,
  MessageState,
  OpenReport,
  Spool,
  SpoolStats,
  Synchronizer,
  Writer,
} from "@spool/actors";
import type { JetStreamSpool } from "@spool/jetstream";

/** A value, or a promise of it: `await` takes either. @example const state = await spool.messageState(seq) */
export type Awaitable<T> = T | Promise<T>;

/**
 * The counters both stores keep, and the messages by state that only a directory counts (a
 * stream's consumer does not tell queued from leased or retrying for the whole stream).
 *
 * @example
 * const dead = spool.stats().messages?.dead; // undefined on a stream
 */
export type GatewaySpoolStats = Pick<
  SpoolStats,
  "state" | "flushes" | "flushReasons" | "records" | "bytes" | "batchRecordsMean"
> & { readonly messages?: SpoolStats["messages"] };

/**
 * The methods of a spool the gateway calls, which `Spool` and `JetStreamSpool` both have.
 *
 * @example
 * const spool: GatewaySpool = await openSpool({ dir });
 * if ((await spool.messageState(seq)) === "done") console.log("delivered");
 */
export interface GatewaySpool {
  /** Where it is: the directory, or the servers and the stream. */
  readonly dir: string;
  /** `leaseMs` (a stream's consumer's ack wait) and `maxAttempts`, among the rest. */
  readonly config: Spool["config"];
  /** Its synchronizer, watched for the live page (`MachineWatch.ts`). */
  readonly synchronizer: Synchronizer;
  /** What opening a directory restored; a stream has nothing to restore. */
  readonly recovery?: OpenReport;
  writer(name?: string): Writer;
  consume(handler: (lease: Lease) => Promise<void> | void, options?: ConsumeOptions): Consumer;
  /** A stream's `messageState` never says `retryWait`: a message waiting to retry is `leased`. */
  messageState(messageSeq: number): Awaitable<MessageState>;
  depth(): Awaitable<number>;
  deadLetters(): Promise<readonly DeadLetter[]>;
  purgeDeadLetter(messageSeq: number): Promise<void>;
  stats(): GatewaySpoolStats;
  onBatch(listener: (report: BatchReport) => void): () => void;
  recentBatches(): readonly BatchReport[];
  close(): Promise<void>;
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

/**
 * The spool as the gateway uses it, whichever store holds it: `Spool` (a directory) and
 * `JetStreamSpool` (a NATS JetStream stream) both satisfy {@link GatewaySpool}. Where a stream
 * has to ask the cluster (`messageState`, `depth`) its answer is a promise, so the gateway
 * awaits both; what only a directory keeps (the messages by state, the recovery report) is
 * optional here, and shown only where it exists.
 */
import {
  type BatchReport,
  type ConsumeOptions,
  type Consumer,
  type ConsumerSource,
  type DeadLetter,
  type Lease,
  type MessageState,
  type OpenReport,
  type Spool,
  type SpoolStats,
  type Synchronizer,
  startConsumer,
  type Writer,
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
 * How often an idle consume loop on a stream asks for a message: 200 ms, so a message waits at
 * most that long for an idle gateway, for five pulls a second per loop (two per gateway).
 */
export const STREAM_POLL_MS = 200;

/**
 * A JetStream spool as a {@link GatewaySpool}: its own methods, but for `consume`, which runs
 * the same consume loop (`startConsumer`) over the spool's public take, ack and nack, polled
 * every {@link STREAM_POLL_MS}. Its own `consume` spins: once every handler is busy and its
 * waiting pull brought a message, `waitForReady` wakes the loop at once, again and again, in
 * microtasks, and the event loop (the handlers' own I/O among it) never runs again.
 *
 * @example
 * const messages = streamGatewaySpool(await openJetStreamSpool({ servers, stream: "mms", replicas: 1 }));
 */
export function streamGatewaySpool(spool: JetStreamSpool): GatewaySpool {
  let stopping = false;
  const source: ConsumerSource = {
    takeMany: (count, options) => spool.takeMany(count, options),
    ack: (messageSeq) => spool.ack(messageSeq),
    nack: (messageSeq, options) => spool.nack(messageSeq, options),
    // Never woken: the loop's poll wakes it (a store that cannot tell never calls `wake`).
    waitForReady: () => undefined,
    unwait: () => undefined,
    closing: () => stopping,
    // The spool counts lost leases of its own consume only; the gateway does not show them.
    leaseLost: () => undefined,
  };
  return {
    dir: spool.dir,
    config: spool.config,
    synchronizer: spool.synchronizer,
    writer: (name) => spool.writer(name),
    consume: (handler, options = {}) =>
      startConsumer(source, handler, { pollMs: STREAM_POLL_MS, ...options }),
    messageState: (messageSeq) => spool.messageState(messageSeq),
    depth: () => spool.depth(),
    deadLetters: () => spool.deadLetters(),
    purgeDeadLetter: (messageSeq) => spool.purgeDeadLetter(messageSeq),
    stats: () => spool.stats(),
    onBatch: (listener) => spool.onBatch(listener),
    recentBatches: () => spool.recentBatches(),
    close: () => {
      // A loop still running ends quietly when its take finds the spool closed.
      stopping = true;
      return spool.close();
    },
  };
}

/**
 * The spool API every store keeps: a spool directory (`Spool`) and a spool on a replicated log
 * (`JetStreamSpool` in `@spool/jetstream`) both implement {@link SpoolApi}, so an application
 * written against it runs on either. Where a store has to ask elsewhere for an answer (a
 * stream's `depth` and `messageState` ask the cluster), the type is {@link Awaitable}: `await`
 * takes both.
 */
import type { Seq, SpoolConfig } from "@spool/core";
import type { Synchronizer } from "../synchronizer/Synchronizer.js";
import type { BatchReport } from "../synchronizer/SynchronizerPorts.js";
import type { Writer } from "../writers/Writer.js";
import type { ConsumeOptions, Consumer } from "./Consumer.js";
import type { FailureListener } from "./SpoolFailure.js";
import type { DeadLetter, Lease, MessageState } from "./SpoolQueue.js";
import type { SpoolStats } from "./SpoolStats.js";

/** A value, or a promise of it. @example const state = await spool.messageState(seq) */
export type Awaitable<T> = T | Promise<T>;

/** A record as every store reads it back. @example for await (const { seq } of spool.records()) {} */
export interface StoredRecord {
  readonly seq: Seq;
  readonly payload: Uint8Array;
  readonly appendedAtMs: number;
}

/** The counters every store keeps (a directory keeps more: see `SpoolStats`). @example spool.stats().flushes */
export type SpoolApiStats = Pick<
  SpoolStats,
  | "adapter"
  | "state"
  | "flushes"
  | "flushReasons"
  | "records"
  | "bytes"
  | "batchRecordsMean"
  | "batchRecordsMax"
  | "parked"
  | "skipped"
  | "confirmationsReceived"
  | "leasesLost"
  | "leases"
  | "acks"
  | "nacks"
  | "deadLettered"
>;

/**
 * What every spool offers, whatever holds its records.
 *
 * @example
 * async function drain(spool: SpoolApi) { for (const lease of await spool.takeMany(32)) await spool.ack(lease.seq); }
 */
export interface SpoolApi {
  /** Where it is: the directory, or the servers and the stream. */
  readonly dir: string;
  readonly config: SpoolConfig;
  /** Its synchronizer, for observation (its actor). */
  readonly synchronizer: Synchronizer;
  writer(name?: string): Writer;
  records(options?: { readonly from?: number }): AsyncGenerator<StoredRecord, void, undefined>;
  take(options?: { readonly leaseMs?: number }): Promise<Lease | undefined>;
  takeMany(count: number, options?: { readonly leaseMs?: number }): Promise<Lease[]>;
  ack(messageSeq: number): Promise<void>;
  nack(messageSeq: number, options?: { readonly retryAfterMs?: number }): Promise<void>;
  consume(handler: (lease: Lease) => Promise<void> | void, options?: ConsumeOptions): Consumer;
  deadLetters(): Promise<readonly DeadLetter[]>;
  purgeDeadLetter(messageSeq: number): Promise<void>;
  /** A stream's answer is a promise: it asks the cluster. */
  depth(): Awaitable<number>;
  /** A stream's answer is a promise, and never `retryWait` (a message waiting to retry is `leased`). */
  messageState(messageSeq: number): Awaitable<MessageState>;
  stats(): SpoolApiStats;
  onBatch(listener: (report: BatchReport) => void): () => void;
  recentBatches(): readonly BatchReport[];
  onFailure(listener: FailureListener): () => void;
  close(): Promise<void>;
}

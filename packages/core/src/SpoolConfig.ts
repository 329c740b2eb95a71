/**
 * Spool's options: one schema, one table of defaults, one validation step with a clear error.
 * Every flush trigger (claims 5-13) is an option and `null` disables it, save that one timed
 * trigger must stay enabled (else nothing flushes a lone append).
 */
import { Exit, Schema } from "effect";
import { DEFAULT_DIRECTORY_MODE, DEFAULT_FILE_MODE } from "./FlushAdapter.js";
import { ATTEMPTS_MAX } from "./IndexEntry.js";
import { ConfigInvalid } from "./SpoolError.js";

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * The longest duration, in milliseconds, that any option or argument of the API takes (about
 * 24.8 days): 2^31 - 1 is the most Node's `setTimeout` waits (a longer delay fires after 1 ms,
 * with a TimeoutOverflowWarning), so every duration the spool takes can be waited for by one
 * timer. No lease, retry delay or flush timer of a delivery queue needs longer; a larger value is
 * a unit mistake (seconds for milliseconds, or a timestamp for a duration).
 *
 * @example
 * spool.take({ leaseMs: DURATION_MS_MAX }) // the longest lease there is
 */
export const DURATION_MS_MAX = 2 ** 31 - 1;

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));
const Positive = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1));
const Trigger = Schema.NullOr(Count);
const Milliseconds = Count.check(Schema.isLessThanOrEqualTo(DURATION_MS_MAX));
const PositiveMilliseconds = Positive.check(Schema.isLessThanOrEqualTo(DURATION_MS_MAX));
const TimeTrigger = Schema.NullOr(Milliseconds);
// Permission bits only: no setuid, setgid or sticky bit on a spool's files.
const PermissionBits = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(0),
  Schema.isLessThanOrEqualTo(0o777),
);

/** The schema of Spool's tunable options (all optional on input). @example Schema.decodeUnknownSync(SpoolOptionsSchema)({}) */
export const SpoolOptionsSchema = Schema.Struct({
  segmentByteSize: Schema.optionalKey(Positive),
  pageByteSize: Schema.optionalKey(Positive),
  recordPayloadByteSizeMax: Schema.optionalKey(Positive),
  maxPageSpan: Schema.optionalKey(Positive),
  /**
   * Claim 13's gap between writes of one batch. It acts on positioned writes (the index file's
   * entries) only: appends are placed end to end at the log's tail, so their gap is always 0.
   */
  maxByteGap: Schema.optionalKey(Count),
  sinceLastFlushMs: Schema.optionalKey(TimeTrigger),
  batchByteSizeMax: Schema.optionalKey(Trigger),
  batchCountMax: Schema.optionalKey(Trigger),
  gatherTimeMsMax: Schema.optionalKey(TimeTrigger),
  idleTimeMsMax: Schema.optionalKey(TimeTrigger),
  contiguousRunMin: Schema.optionalKey(Trigger),
  temporaryStorageCountMax: Schema.optionalKey(Count),
  temporaryStorageByteSizeMax: Schema.optionalKey(Count),
  confirmTimeoutMs: Schema.optionalKey(PositiveMilliseconds),
  resendAttemptsMax: Schema.optionalKey(Positive),
  // Attempts are counted in a u16 of the index entry: more could never be counted.
  maxAttempts: Schema.optionalKey(Positive.check(Schema.isLessThanOrEqualTo(ATTEMPTS_MAX))),
  leaseMs: Schema.optionalKey(PositiveMilliseconds),
  indexSegmentEntries: Schema.optionalKey(Positive),
  diskBudgetBytes: Schema.optionalKey(Schema.NullOr(Positive)),
  pipelineSplitByteSize: Schema.optionalKey(Schema.NullOr(Positive)),
  fileMode: Schema.optionalKey(PermissionBits),
  directoryMode: Schema.optionalKey(PermissionBits),
});

/** Options as a caller passes them: any subset. @example const options: SpoolOptions = { batchCountMax: 256 } */
export type SpoolOptions = typeof SpoolOptionsSchema.Type;

/** Options after defaults are applied and cross-field rules checked. @example const config = resolveConfig({}) */
export type SpoolConfig = {
  readonly [K in keyof SpoolOptions]-?: Exclude<SpoolOptions[K], undefined>;
};

/**
 * The defaults, each with the reason for its number.
 *
 * @example
 * DEFAULT_CONFIG.segmentByteSize // 67108864
 */
export const DEFAULT_CONFIG: SpoolConfig = {
  // 64 MiB: pre-zeroing one takes about 0.2 s at the 300 MiB/s measured here, done ahead of need.
  segmentByteSize: 64 * MIB,
  // The x86-64 and arm64 Linux page size; msync works on whole pages.
  pageByteSize: 4 * KIB,
  // 8 MiB: large enough for an MMS message with attachments, small against a segment.
  recordPayloadByteSizeMax: 8 * MIB,
  // 1024 pages = 4 MiB per batch window: past about 1 MiB writes, durable bandwidth here is flat.
  maxPageSpan: 1024,
  // 64 KiB: a scattered index update this close is cheaper to flush with the batch than apart.
  // Index entries only: appends lie end to end, with no gap between them.
  maxByteGap: 64 * KIB,
  // Disabled: the idle trigger already flushes as soon as the intake is quiet.
  sinceLastFlushMs: null,
  // 4 MiB: a batch holds at most this many record bytes (a single larger record goes alone);
  // past about 1 MiB, durable bandwidth here is flat, so a larger batch buys nothing.
  batchByteSizeMax: 4 * MIB,
  // 4096 requests: bounds the work between flushes at high load (one flush per ~4 MiB of 1 KiB).
  // A batch holds at most this many; the rest are parked for the next batch.
  batchCountMax: 4096,
  // 10 ms: the most a request waits for company before its batch is flushed.
  gatherTimeMsMax: 10,
  // 0 ms: flush as soon as the intake is drained; an idle spool never waits for a timer.
  idleTimeMsMax: 0,
  // Disabled by default (claim 7 is a choice for workloads that want long runs).
  contiguousRunMin: null,
  // 65536 requests / 64 MiB parked while a batch is written; past that, writers are told to resend.
  temporaryStorageCountMax: 65536,
  temporaryStorageByteSizeMax: 64 * MIB,
  // 5 s: an in-process writer confirms within microseconds; a stalled one must not stall the rest.
  confirmTimeoutMs: 5000,
  // 1000 resends (one per cleared batch) before a writer gives up with SpoolOverloaded.
  resendAttemptsMax: 1000,
  // 5 deliveries, then the message is a dead letter: enough for transient faults, few enough
  // that a poison message stops costing a delivery worker.
  maxAttempts: 5,
  // 30 s: a delivery attempt that has not answered by then is presumed lost and retried.
  leaseMs: 30_000,
  // 65536 entries = 4 MiB index segments: one covers 64 MiB of 1 KiB messages.
  indexSegmentEntries: 65536,
  // No budget by default: the spool may fill its partition (as a log does). Set one to get
  // SpoolFull back-pressure instead.
  diskBudgetBytes: null,
  // 128 KiB: a batch this big, gathered while the disk is idle, is written as two batches, so
  // the first half's writers are confirmed (and append again) while the second half flushes;
  // and a batch gathered while one flushes is written beside it. Measured here with 1 KiB
  // records: 1.1-1.45x the messages per second at 128-256 writers; below 128 KiB halves cost
  // more flushes than they save. null: one batch on the disk at a time.
  pipelineSplitByteSize: 128 * KIB,
  // 0600 and 0700: a spool holds other people's messages, so only its own user may read them;
  // widen (0o640 and 0o750, say) for a group of readers.
  fileMode: DEFAULT_FILE_MODE,
  directoryMode: DEFAULT_DIRECTORY_MODE,
};

// Excess keys are errors: a misspelt option must not silently fall back to its default.
const decodeOptions = Schema.decodeUnknownExit(SpoolOptionsSchema, { onExcessProperty: "error" });

function firstIssue(error: unknown): { field: string; message: string } {
  const text = error instanceof Error ? error.message : String(error);
  const path = /at \["?([A-Za-z]+)"?\]/.exec(text);
  const field = path?.[1] ?? "options";
  return { field, message: `${field}: ${text.split("\n")[0]}` };
}

/**
 * Validates options and fills in defaults; throws {@link ConfigInvalid} naming the field.
 *
 * @example
 * const config = resolveConfig({ batchCountMax: 128, gatherTimeMsMax: null });
 */
export function resolveConfig(options: unknown): SpoolConfig {
  const decoded = decodeOptions(options ?? {});
  if (Exit.isFailure(decoded)) {
    const cause = decoded.cause;
    const failure = cause.reasons.find((reason) => reason._tag === "Fail");
    throw new ConfigInvalid(firstIssue(failure?._tag === "Fail" ? failure.error : cause));
  }
  const given = stripUndefined(decoded.value);
  const merged: SpoolConfig = { ...DEFAULT_CONFIG, ...given };
  // Unless set, the payload limit shrinks to fit a small segment (one record, one header).
  const config: SpoolConfig =
    given.recordPayloadByteSizeMax === undefined
      ? {
          ...merged,
          recordPayloadByteSizeMax: Math.min(
            merged.recordPayloadByteSizeMax,
            merged.segmentByteSize - 64,
          ),
        }
      : merged;
  checkCrossFieldRules(config);
  return config;
}

function stripUndefined(options: SpoolOptions): Partial<SpoolConfig> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

/** The triggers that fire on time alone; at least one must stay enabled. */
const TIMED_TRIGGERS = ["idleTimeMsMax", "gatherTimeMsMax", "sinceLastFlushMs"] as const;

function checkCrossFieldRules(config: SpoolConfig): void {
  const fail = (field: keyof SpoolConfig, message: string): never => {
    throw new ConfigInvalid({ field, message: `${field} ${message}` });
  };
  if (config.pageByteSize % 512 !== 0) fail("pageByteSize", "must be a multiple of 512");
  if (config.segmentByteSize % config.pageByteSize !== 0) {
    fail("segmentByteSize", `must be a multiple of pageByteSize (${config.pageByteSize})`);
  }
  // Index entries store offsets as u32.
  if (config.segmentByteSize > 0xffff_ffff) fail("segmentByteSize", "must be below 4 GiB");
  if ((config.indexSegmentEntries * 64) % config.pageByteSize !== 0) {
    fail("indexSegmentEntries", "times 64 bytes must be a multiple of pageByteSize");
  }
  // The spool must read and write its own files and enter its own directories.
  if ((config.fileMode & 0o600) !== 0o600) fail("fileMode", "must let the owner read and write");
  if ((config.directoryMode & 0o700) !== 0o700) {
    fail("directoryMode", "must let the owner read, write and enter");
  }
  if (config.recordPayloadByteSizeMax + 64 > config.segmentByteSize) {
    fail("recordPayloadByteSizeMax", "must leave room for a record header inside one segment");
  }
  // Only a timed trigger flushes an append that no other append follows: the count, byte and
  // run triggers wait for more requests, which may never come (claims 5, 10, 11).
  if (!TIMED_TRIGGERS.some((field) => config[field] !== null)) {
    fail(
      "idleTimeMsMax",
      "may not be null with gatherTimeMsMax and sinceLastFlushMs null too: with no timed " +
        "trigger a lone append is never flushed",
    );
  }
}

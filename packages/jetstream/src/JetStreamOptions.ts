/**
 * What `openJetStreamSpool` takes, checked once: the cluster, the stream, the consumer, and the
 * synchronizer's flush policy (Spool's own options, less those that only a directory has).
 */
import { ConfigInvalid, describeValue, resolveConfig, type SpoolConfig } from "@spool/core";

/** Options of `openJetStreamSpool`. @example { servers: "nats://127.0.0.1:4222", stream: "mms", replicas: 3 } */
export interface JetStreamSpoolOptions {
  /** The cluster's servers: a URL or a list (`nats://host:port`); the client fails over among them. */
  readonly servers: string | readonly string[];
  /** The stream's name (letters, digits, `-` and `_`). Created when missing. */
  readonly stream: string;
  /** The subjects the stream takes; appends go to the first. `spool.<stream>` by default. */
  readonly subjects?: readonly string[];
  /** How many servers keep the stream: 1, 3 or 5 (an acknowledgement waits for a majority). */
  readonly replicas: number;
  /** The durable consumer's name, shared by every spool that consumes the stream. `spool` by default. */
  readonly consumer?: string;
  /**
   * Spool's options for the synchronizer and the queue: the flush policy (`batchCountMax`,
   * `gatherTimeMsMax`, ...), `recordPayloadByteSizeMax` (at most the server's `max_payload`),
   * `leaseMs` (the consumer's ack wait) and `maxAttempts` (its max deliver). Options that only
   * a directory has (`segmentByteSize`, `fileMode`, `diskBudgetBytes`, ...) are refused.
   */
  readonly config?: Record<string, unknown>;
  /** How long one publish waits for its acknowledgement before it is sent again. 5 s by default. */
  readonly publishTimeoutMs?: number;
  /**
   * How long a batch's publishes are sent again before the spool fails with `FlushFailed`;
   * 60 s by default, and under the stream's duplicate window (120 s), so that a resent append
   * is recognised by its message id and stored once.
   */
  readonly retryForMs?: number;
  /** The connection's name, as the servers show it. */
  readonly name?: string;
}

/** The options with defaults applied. @example settings.consumer === "spool" */
export interface JetStreamSettings {
  readonly servers: readonly string[];
  readonly stream: string;
  readonly subjects: readonly string[];
  readonly replicas: number;
  readonly consumer: string;
  readonly config: SpoolConfig;
  /** Whether `config` named `recordPayloadByteSizeMax` (else the server's `max_payload` rules). */
  readonly payloadSizeGiven: boolean;
  readonly publishTimeoutMs: number;
  readonly retryForMs: number;
  readonly name: string;
}

/**
 * The stream's duplicate window: a publish resent within it with the same message id is stored
 * once. Two minutes is JetStream's default; `retryForMs` must stay under it.
 */
export const DUPLICATE_WINDOW_MS = 120_000;

/** Options only a spool directory has: refused here rather than silently ignored. */
const DIRECTORY_ONLY = [
  "segmentByteSize",
  "pageByteSize",
  "maxPageSpan",
  "maxByteGap",
  "contiguousRunMin",
  "indexSegmentEntries",
  "diskBudgetBytes",
  "fileMode",
  "directoryMode",
] as const;

const KEYS = [
  "servers",
  "stream",
  "subjects",
  "replicas",
  "consumer",
  "config",
  "publishTimeoutMs",
  "retryForMs",
  "name",
];

// Stream and consumer names: JetStream refuses `.`, `*`, `>`, whitespace and path separators.
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
// A subject: dot-separated tokens without whitespace; the first, which appends go to, no wildcard.
const SUBJECT = /^[^\s.]+(\.[^\s.]+)*$/;

function invalid(field: string, rule: string, value: unknown): ConfigInvalid {
  return new ConfigInvalid({ field, message: `${field}: ${rule}, not ${describeValue(value)}` });
}

/**
 * Checks `openJetStreamSpool`'s options and applies the defaults; throws `ConfigInvalid` naming
 * the first bad field.
 *
 * @example
 * const settings = jetStreamSettings({ servers: "nats://127.0.0.1:4222", stream: "mms", replicas: 1 });
 */
export function jetStreamSettings(options: unknown): JetStreamSettings {
  if (typeof options !== "object" || options === null) {
    throw invalid("options", "must be an object", options);
  }
  const given = options as Record<string, unknown>;
  const unknown = Object.keys(given).find((key) => !KEYS.includes(key));
  if (unknown !== undefined) throw invalid(unknown, "is not an option", given[unknown]);
  const { stream, replicas } = given;
  if (typeof stream !== "string" || !NAME.test(stream)) {
    throw invalid("stream", "must be 1-64 letters, digits, - or _", stream);
  }
  if (replicas !== 1 && replicas !== 3 && replicas !== 5) {
    throw invalid("replicas", "must be 1, 3 or 5", replicas);
  }
  const consumer = given.consumer ?? "spool";
  if (typeof consumer !== "string" || !NAME.test(consumer)) {
    throw invalid("consumer", "must be 1-64 letters, digits, - or _", consumer);
  }
  const config = checkConfig(given.config);
  const retryForMs = checkMs(given.retryForMs ?? 60_000, "retryForMs", DUPLICATE_WINDOW_MS - 1);
  return {
    servers: checkServers(given.servers),
    stream,
    subjects: checkSubjects(given.subjects ?? [`spool.${stream}`]),
    replicas,
    consumer,
    config,
    payloadSizeGiven:
      typeof given.config === "object" &&
      given.config !== null &&
      "recordPayloadByteSizeMax" in given.config,
    publishTimeoutMs: checkMs(given.publishTimeoutMs ?? 5_000, "publishTimeoutMs", retryForMs),
    retryForMs,
    name: checkName(given.name),
  };
}

function checkServers(value: unknown): readonly string[] {
  const list = typeof value === "string" ? value.split(",") : value;
  const isUrl = (url: unknown) => typeof url === "string" && /^(nats|tls):\/\/\S+$/.test(url);
  if (!Array.isArray(list) || list.length === 0 || !list.every(isUrl)) {
    throw invalid("servers", "must be nats:// URLs (a string, comma-separated, or a list)", value);
  }
  return list as string[];
}

function checkSubjects(value: unknown): readonly string[] {
  const isSubject = (subject: unknown) => typeof subject === "string" && subject.length > 0;
  if (!Array.isArray(value) || value.length === 0 || !value.every(isSubject)) {
    throw invalid("subjects", "must be a non-empty list of subjects", value);
  }
  const first = value[0] as string;
  if (!SUBJECT.test(first) || /[*>]/.test(first)) {
    throw invalid("subjects", "must start with a subject without wildcards", value);
  }
  return value as string[];
}

function checkConfig(value: unknown): SpoolConfig {
  if (value === undefined) return resolveConfig({});
  if (typeof value !== "object" || value === null)
    throw invalid("config", "must be an object", value);
  const directoryOnly = DIRECTORY_ONLY.find((key) => key in value);
  if (directoryOnly !== undefined) {
    const rule = "is a spool directory's option, which a stream does not have";
    throw invalid(
      `config.${directoryOnly}`,
      rule,
      (value as Record<string, unknown>)[directoryOnly],
    );
  }
  return resolveConfig(value);
}

function checkMs(value: unknown, field: string, maximumMs: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > maximumMs) {
    throw invalid(field, `must be a whole number of milliseconds from 1 to ${maximumMs}`, value);
  }
  return value;
}

function checkName(value: unknown): string {
  if (value === undefined) return `spool-${process.pid}`;
  if (typeof value !== "string" || value.length === 0)
    throw invalid("name", "must be a string", value);
  return value;
}

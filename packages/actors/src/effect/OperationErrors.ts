/**
 * What each operation of the Effect API can fail with: a closed union of tagged errors per
 * operation, and the one place where a rejection of the Promise API becomes either one of them
 * (an operating error, in the error channel) or a defect (anything else: an
 * `InvariantViolation`, a `TypeError` from a bug). The unions hold for every store that keeps
 * `SpoolApi`: a directory never raises `ClusterUnavailable`, a stream never `SpoolCorrupt`.
 */
import type {
  AppendError,
  ClusterUnavailable,
  FlushFailed,
  InvalidArgument,
  NotLeased,
  OpenError,
  SpoolClosed,
  SpoolCorrupt,
  SpoolFailed,
  SpoolOverloaded,
  StorageFailed,
} from "@spool/core";
import { Effect } from "effect";

/**
 * What writing an index entry can meet (a lease, an ack, a nack, a purge): the index file is
 * written through a synchronizer of its own, as the data is, and fails as appends do.
 *
 * @example
 * const error: EntryWriteError = new SpoolClosed({ dir: "./spool-data" });
 */
export type EntryWriteError =
  | SpoolClosed
  | SpoolFailed
  | FlushFailed
  | StorageFailed
  | SpoolOverloaded;

/**
 * What `take` and `takeMany` (and so `consume`) can fail with: bad arguments, a record that no
 * longer reads back, the cluster not answering, or the write of a lease entry failing.
 *
 * @example
 * const error: TakeError = new InvalidArgument({ argument: "count", message: "..." });
 */
export type TakeError = InvalidArgument | SpoolCorrupt | ClusterUnavailable | EntryWriteError;

/**
 * What `ack` can fail with: `NotLeased` when the message is not leased now, bad arguments, the
 * cluster not answering, or the write of its entry failing.
 *
 * @example
 * const error: AckError = new NotLeased({ seq: 7, reason: "unknown" });
 */
export type AckError = InvalidArgument | NotLeased | ClusterUnavailable | EntryWriteError;

/** What `nack` can fail with: as `ack`. @example const error: NackError = new NotLeased({ seq: 7, reason: "notLeased" }) */
export type NackError = AckError;

/**
 * What `purgeDeadLetter` can fail with: `NotLeased` when no dead letter has the seq, bad
 * arguments, the cluster, or the writes of its entry and of the dead-letter file.
 *
 * @example
 * const error: PurgeDeadLetterError = new NotLeased({ seq: 7, reason: "unknown" });
 */
export type PurgeDeadLetterError = AckError;

/**
 * What `deadLetters` can fail with: a letter's record that cannot be read back, or the cluster.
 *
 * @example
 * const error: DeadLettersError = new StorageFailed({ operation: "read", file, code: "EIO", cause });
 */
export type DeadLettersError = StorageFailed | SpoolCorrupt | ClusterUnavailable;

/** What `depth` can fail with: a stream asks its cluster. @example const error: DepthError = unavailable */
export type DepthError = ClusterUnavailable;

/** What `messageState` can fail with. @example const error: MessageStateError = new InvalidArgument({ argument: "seq", message }) */
export type MessageStateError = InvalidArgument | ClusterUnavailable;

/**
 * What the `records` stream can fail with: bad options, a segment that cannot be read, or the
 * cluster.
 *
 * @example
 * const error: RecordsError = new InvalidArgument({ argument: "from", message });
 */
export type RecordsError = InvalidArgument | StorageFailed | SpoolCorrupt | ClusterUnavailable;

/** What making a writer can fail with. @example const error: WriterError = new SpoolClosed({ dir }) */
export type WriterError = SpoolClosed | InvalidArgument;

interface Tagged {
  readonly _tag: string;
}

/**
 * The tags of an error union, as a value: built from an object with one key per member, so a
 * member added to the union does not compile until it is listed here, and a tag listed that is
 * not a member does not either.
 *
 * @example
 * const ACK = new Expected<AckError>({ InvalidArgument: true, NotLeased: true, ... });
 */
export class Expected<E extends Tagged> {
  readonly #tags: ReadonlySet<string>;

  constructor(tags: { readonly [Tag in E["_tag"]]: true }) {
    this.#tags = new Set(Object.keys(tags));
  }

  /** Whether `cause` is one of the union's errors. */
  has(cause: unknown): cause is E {
    if (typeof cause !== "object" || cause === null || !("_tag" in cause)) return false;
    const tag = (cause as { readonly _tag: unknown })._tag;
    return typeof tag === "string" && this.#tags.has(tag);
  }
}

const ENTRY_WRITE = {
  SpoolClosed: true,
  SpoolFailed: true,
  FlushFailed: true,
  StorageFailed: true,
  SpoolOverloaded: true,
} as const;

/** The errors of each operation, as values. */
export const EXPECTED = {
  append: new Expected<AppendError>({
    InvalidPayload: true,
    InvalidArgument: true,
    RecordTooLarge: true,
    SpoolFailed: true,
    SpoolClosed: true,
    FlushFailed: true,
    SpoolOverloaded: true,
    StorageFailed: true,
    SpoolFull: true,
    SpoolUnreachable: true,
  }),
  open: new Expected<OpenError>({
    ConfigInvalid: true,
    StorageFailed: true,
    SpoolCorrupt: true,
    SpoolLocked: true,
  }),
  take: new Expected<TakeError>({
    ...ENTRY_WRITE,
    InvalidArgument: true,
    SpoolCorrupt: true,
    ClusterUnavailable: true,
  }),
  answer: new Expected<AckError>({
    ...ENTRY_WRITE,
    InvalidArgument: true,
    NotLeased: true,
    ClusterUnavailable: true,
  }),
  deadLetters: new Expected<DeadLettersError>({
    StorageFailed: true,
    SpoolCorrupt: true,
    ClusterUnavailable: true,
  }),
  depth: new Expected<DepthError>({ ClusterUnavailable: true }),
  messageState: new Expected<MessageStateError>({
    InvalidArgument: true,
    ClusterUnavailable: true,
  }),
  records: new Expected<RecordsError>({
    InvalidArgument: true,
    StorageFailed: true,
    SpoolCorrupt: true,
    ClusterUnavailable: true,
  }),
  writer: new Expected<WriterError>({ SpoolClosed: true, InvalidArgument: true }),
} as const;

/**
 * The error `cause` is, when `expected` lists it, in the error channel; anything else (a bug)
 * as a defect.
 *
 * @example
 * Effect.tryPromise({ try, catch: (cause) => cause }).pipe(Effect.catch(failOrDie(EXPECTED.take)))
 */
export function failOrDie<E extends Tagged>(
  expected: Expected<E>,
): (cause: unknown) => Effect.Effect<never, E> {
  return (cause) => (expected.has(cause) ? Effect.fail(cause) : Effect.die(cause));
}

/**
 * Runs a call of the Promise API (a promise, a value, or a synchronous throw) as an Effect whose
 * error channel holds exactly the errors `expected` lists.
 *
 * @example
 * const ack = (seq: number) => attempt(EXPECTED.answer, () => store.ack(seq));
 */
export function attempt<A, E extends Tagged>(
  expected: Expected<E>,
  run: () => A | PromiseLike<A>,
): Effect.Effect<A, E> {
  return Effect.tryPromise({ try: async () => run(), catch: (cause) => cause }).pipe(
    Effect.catch(failOrDie(expected)),
  );
}

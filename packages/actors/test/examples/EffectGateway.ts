/**
 * A gateway-shaped program on the Effect API, quoted whole in docs/effect.md (a test checks the
 * quote and runs the program): sources append messages through writers of their own, and a
 * consumer delivers them to a recipient, retrying the ones it refuses for now.
 */
import { type AppendError, SpoolEffect } from "@spool/actors";
import { Data, Effect, Stream } from "effect";
import { match, P } from "ts-pattern";

/** The recipient cannot take the message now; it may later. */
export class RecipientBusy extends Data.TaggedError("RecipientBusy")<{ readonly to: string }> {}

/** The recipient refused the message for good (an unknown address, say). */
export class RecipientRejected extends Data.TaggedError("RecipientRejected")<{
  readonly to: string;
  readonly reason: string;
}> {}

/** Where messages go. */
export interface Recipient {
  readonly deliver: (
    message: string,
    attempt: number,
  ) => Effect.Effect<void, RecipientBusy | RecipientRejected>;
}

/** What became of a submitted message. */
export type Receipt =
  | { readonly status: "stored"; readonly seq: number }
  | { readonly status: "busy" | "unavailable" | "refused"; readonly reason: string };

/** What became of a stored message once settled. */
export type Outcome =
  | { readonly seq: number; readonly status: "delivered" | "rejected" | "dead" }
  | { readonly seq: number; readonly status: "retrying"; readonly attempt: number };

/** The answer a source gets when the spool refuses its message: every refusal, by name. */
const refusal = (error: AppendError): Receipt => {
  const reason = error._tag;
  return match(error)
    .with(
      { _tag: P.union("SpoolFull", "SpoolOverloaded") },
      () => ({ status: "busy", reason }) as const,
    )
    .with(
      { _tag: P.union("SpoolClosed", "SpoolFailed", "FlushFailed", "StorageFailed") },
      { _tag: "SpoolUnreachable" },
      () => ({ status: "unavailable", reason }) as const,
    )
    .with(
      { _tag: P.union("RecordTooLarge", "InvalidPayload", "InvalidArgument") },
      () => ({ status: "refused", reason }) as const,
    )
    .exhaustive();
};

/** One source's messages, appended together through a writer named for it. */
const submit = (source: string, messages: readonly string[]) =>
  Effect.scoped(
    Effect.gen(function* () {
      const spool = yield* SpoolEffect.Spool;
      const writer = yield* spool.writer(source);
      return yield* Effect.forEach(
        messages,
        (message) =>
          writer.append(message).pipe(
            Effect.map(({ seq }): Receipt => ({ status: "stored", seq })),
            Effect.catch((error) => Effect.succeed(refusal(error))),
          ),
        { concurrency: "unbounded" },
      );
    }),
  );

/** Delivers one message and answers the spool by the recipient's answer. */
const deliver =
  (recipient: Recipient, maxAttempts: number) =>
  (delivery: SpoolEffect.Delivery): Effect.Effect<Outcome, SpoolEffect.AckError> => {
    const { seq, attempt } = delivery;
    const settled = (answer: Effect.Effect<void, SpoolEffect.AckError>, outcome: Outcome) =>
      Effect.as(answer, outcome);
    const message = new TextDecoder().decode(delivery.payload);
    return recipient.deliver(message, attempt).pipe(
      Effect.matchEffect({
        onSuccess: () => settled(delivery.ack, { seq, status: "delivered" }),
        onFailure: (error) =>
          match(error)
            // Done with it: the recipient will never take it.
            .with({ _tag: "RecipientRejected" }, () =>
              settled(delivery.ack, { seq, status: "rejected" }),
            )
            // Again later, 10 ms more per attempt; the last attempt's nack makes it a dead letter.
            .with({ _tag: "RecipientBusy" }, () =>
              settled(
                delivery.nack({ retryAfterMs: 10 * attempt }),
                attempt < maxAttempts
                  ? { seq, status: "retrying", attempt }
                  : { seq, status: "dead" },
              ),
            )
            .exhaustive(),
      }),
    );
  };

/**
 * Submits each source's messages, then delivers every stored one until each is delivered,
 * rejected or dead, four at a time.
 */
export const gateway = (
  sources: Readonly<Record<string, readonly string[]>>,
  recipient: Recipient,
) =>
  Effect.gen(function* () {
    const spool = yield* SpoolEffect.Spool;
    const receipts = yield* Effect.forEach(
      Object.entries(sources),
      ([source, messages]) => submit(source, messages),
      { concurrency: "unbounded" },
    );
    const stored = receipts.flat().filter((receipt) => receipt.status === "stored").length;
    const outcomes = yield* spool.consume({ inFlightMax: 4 }).pipe(
      Stream.mapEffect(deliver(recipient, spool.config.maxAttempts), { concurrency: 4 }),
      Stream.filter((outcome) => outcome.status !== "retrying"),
      Stream.take(stored),
      Stream.runCollect,
    );
    return { receipts: receipts.flat(), outcomes, deadLetters: yield* spool.deadLetters };
  });

/**
 * The writer, following claim 34: acquire the shared lock → send the request → get the receipt
 * → release the lock → await the write confirmation → send the confirmation of confirmation.
 *
 * One writer actor runs per thread or process (claim 34's "first thread or process"); the
 * writer handles on that thread hand it their appends, and it carries everything appended in
 * one microtask through the lock as one request group. So its events count per group and per
 * batch, not per message.
 *
 * An xstate statechart. Its states are the steps where the writer waits for the lock's turn:
 * `idle`, `acquiring` (the lock), `sending` (until the receipt). Its context is the only record
 * of the groups it carries: the ones waiting for the lock and the one being sent (the runtime's
 * own arrays of requests, held by reference, never copied), and how many requests the
 * synchronizer received and has not yet answered for. The diamond after a receipt or a resend,
 * "is another group waiting for the lock?", is the `hasGroupWaiting` guard of `idle`'s eventless
 * transition.
 *
 * Effects (take the lock, send a group, release the lock, the confirmation of confirmation) are
 * named actions that do nothing here: the {@link SenderRuntime} supplies them with
 * `writerMachine.provide({ actions })`, so the machine stays pure and the model-based tests and
 * diagrams read it as it is. An event the protocol does not allow where the writer is (a
 * receipt nobody asked for, a grant with nothing to send) fails the actor.
 *
 * Cost: each event is one xstate macrostep. Measured for issue 19 (Node 20, two shared cores):
 * 3 to 5 µs and about 10 KB of short-lived allocation per event. That is why events stay per
 * group, and why the runtime tries the lock as a group arrives while the writer is idle
 * (`lockTaken`): a free lock then costs no `lock.granted` event, three events per group
 * (append, receipt, written) instead of four.
 */
import { assert, InvariantViolation, type WriteRequest } from "@spool/core";
import { assign, setup } from "xstate";

/** Appends carried through the lock together, the runtime's array by reference. @example [a, b] */
export type WriterGroup = readonly WriteRequest[];

/** Where the writer is in claim 34's sequence for the group at the head of its queue. @example "sending" */
export type WriterPhase = "idle" | "acquiring" | "sending";

/**
 * The writer's context: the groups it carries, by reference, and a count of the others.
 *
 * @example
 * const { waiting, sending, awaitingWrite } = sender.actor.getSnapshot().context;
 */
export interface WriterContext {
  /** Request groups waiting for the lock, the next first (a resent group goes ahead). */
  readonly waiting: readonly WriterGroup[];
  /** The group sent through the lock, until its receipt. */
  readonly sending: WriterGroup | undefined;
  /** Requests received by the synchronizer, not yet confirmed written, failed or resent. */
  readonly awaitingWrite: number;
}

/** Events the writer takes. @example { type: "writer.append", group, lockTaken: false } */
export type WriterEvent =
  | {
      readonly type: "writer.append";
      readonly group: WriterGroup;
      /**
       * Whether the runtime took the shared lock for this group as it arrived (it tries only
       * while the writer is idle): the group is sent at once, with no `lock.granted` to wait for.
       */
      readonly lockTaken: boolean;
    }
  | { readonly type: "lock.granted" }
  | { readonly type: "sync.receipt"; readonly group: WriterGroup }
  | { readonly type: "sync.written"; readonly count: number; readonly confirm: () => void }
  | { readonly type: "sync.resend"; readonly group: WriterGroup }
  | { readonly type: "sync.failed"; readonly count: number };

/** Claims a state or transition carries out, in its `meta`. @example { claims: [34] } */
export interface WriterMeta {
  readonly claims: readonly number[];
}

function checkGroup(group: WriterGroup, what: string): WriterGroup {
  assert(group.length > 0, `${what}: an empty group`);
  return group;
}

// Requests the synchronizer answered for leave the count: no more than it holds, at least one.
function answered(awaitingWrite: number, count: number, what: string): number {
  if (!Number.isInteger(count) || count < 1)
    throw new InvariantViolation({ message: `${what}: bad count ${count}` });
  if (count > awaitingWrite) {
    throw new InvariantViolation({
      message: `${what}: ${count} for ${awaitingWrite} requests awaiting a write`,
    });
  }
  return awaitingWrite - count;
}

// `acquiring` is entered only with a group waiting: a grant always has one to send.
function headOf(waiting: readonly WriterGroup[]): WriterGroup {
  const group = waiting[0];
  assert(group !== undefined, "writer: lock granted with nothing to send");
  return group;
}

const CLAIM_34: WriterMeta = { claims: [34] };

/**
 * Claim 34's writer as an xstate machine. The runtime provides the effects:
 *
 * @example
 * const actor = createActor(
 *   writerMachine.provide({
 *     actions: {
 *       acquireLock: () => lock.acquire(id, () => actor.send({ type: "lock.granted" })),
 *       sendGroup: (_, { group }) => synchronizer.send(group, receipt),
 *       releaseLock: () => lock.release(id),
 *       confirmWritten: (_, { confirm }) => confirm(),
 *     },
 *   }),
 * ).start();
 * actor.send({ type: "writer.append", group: [request], lockTaken: false });
 */
export const writerMachine = setup({
  types: {
    context: {} as WriterContext,
    events: {} as WriterEvent,
    meta: {} as WriterMeta,
  },
  guards: {
    /** Claim 34: a group waits for the lock, so the writer asks for it. */
    hasGroupWaiting: ({ context }) => context.waiting.length > 0,
    /** Claim 34: the lock was free as the group arrived, and the runtime took it. */
    tookLock: ({ event }) => event.type === "writer.append" && event.lockTaken,
    /** Claim 34: the receipt is for the group this writer sent, not some other. */
    isReceiptOfGroupSent: ({ context, event }) =>
      event.type === "sync.receipt" && event.group === context.sending,
  },
  actions: {
    /** Claim 34: an appended group joins the ones waiting for the lock, last. */
    queueGroup: assign({
      waiting: ({ context, event }) => {
        assert(event.type === "writer.append", "writer: queued a group from no append");
        return [...context.waiting, checkGroup(event.group, "append")];
      },
    }),
    /** Claim 34: ask for the shared mutual-exclusion lock; the grant comes as `lock.granted`. */
    acquireLock: () => {},
    /** Claim 34: send the group to the synchronizer; the receipt comes as `sync.receipt`. */
    sendGroup: (_, _params: { readonly group: WriterGroup }) => {},
    /** Claim 34: give the lock back once the synchronizer has the group. */
    releaseLock: () => {},
    /** Claim 34: answer a write confirmation with the confirmation of confirmation. */
    confirmWritten: (_, _params: { readonly confirm: () => void }) => {},
    /** A protocol violation: an event the writer cannot take where it is. */
    refuse: ({ event }) => {
      throw new InvariantViolation({ message: `writer: ${event.type} nobody asked for` });
    },
  },
}).createMachine({
  id: "writer",
  initial: "idle",
  context: { waiting: [], sending: undefined, awaitingWrite: 0 },
  // What the writer takes in every state, where it is (a state's own transition goes first).
  on: {
    "writer.append": [
      {
        guard: "tookLock",
        description: "A lock taken for a group while another group is on its way.",
        actions: "refuse",
      },
      {
        description: "Claim 34: a new request group queues behind the ones waiting for the lock.",
        meta: CLAIM_34,
        actions: "queueGroup",
      },
    ],
    "sync.written": {
      description: "Claim 34: the write confirmation is answered with the confirmation of it.",
      meta: CLAIM_34,
      actions: [
        assign({
          awaitingWrite: ({ context, event }) =>
            answered(context.awaitingWrite, event.count, "sync.written"),
        }),
        { type: "confirmWritten", params: ({ event }) => ({ confirm: event.confirm }) },
      ],
    },
    "sync.resend": {
      description: "Claim 66: skipped requests go back through the lock ahead of newer groups.",
      meta: { claims: [34, 66] },
      actions: assign({
        waiting: ({ context, event }) => [checkGroup(event.group, "resend"), ...context.waiting],
        awaitingWrite: ({ context, event }) =>
          answered(context.awaitingWrite, event.group.length, "sync.resend"),
      }),
    },
    "sync.failed": {
      description: "Claim 34: requests that will never be written leave the count.",
      meta: CLAIM_34,
      actions: assign({
        awaitingWrite: ({ context, event }) =>
          answered(context.awaitingWrite, event.count, "sync.failed"),
      }),
    },
    "lock.granted": { description: "A grant with nothing to send.", actions: "refuse" },
    "sync.receipt": { description: "A receipt nobody asked for.", actions: "refuse" },
  },
  states: {
    idle: {
      description: "Claim 34: nothing goes through the lock for this writer.",
      meta: CLAIM_34,
      always: {
        guard: "hasGroupWaiting",
        target: "acquiring",
        description: "Claim 34: a group waits (left after a receipt, or resent): take the lock.",
        meta: CLAIM_34,
      },
      on: {
        // The common cases go straight on, in one step rather than two or three.
        "writer.append": [
          {
            guard: "tookLock",
            target: "sending",
            description: "Claim 34: the lock was free and is held: the group is sent at once.",
            meta: CLAIM_34,
            actions: [
              assign({ sending: ({ event }) => checkGroup(event.group, "append") }),
              { type: "sendGroup", params: ({ event }) => ({ group: event.group }) },
            ],
          },
          {
            target: "acquiring",
            description: "Claim 34: a new request group asks for the lock.",
            meta: CLAIM_34,
            actions: "queueGroup",
          },
        ],
      },
    },
    acquiring: {
      description: "Claim 34: waiting for the shared mutual-exclusion lock.",
      meta: CLAIM_34,
      entry: "acquireLock",
      on: {
        "lock.granted": {
          target: "sending",
          description: "Claim 34: the lock is held: the next group is sent.",
          meta: CLAIM_34,
          actions: [
            assign(({ context }) => ({
              sending: headOf(context.waiting),
              waiting: context.waiting.slice(1),
            })),
            { type: "sendGroup", params: ({ context }) => ({ group: context.sending! }) },
          ],
        },
      },
    },
    sending: {
      description: "Claim 34: the group is sent; the writer holds the lock until the receipt.",
      meta: CLAIM_34,
      on: {
        "sync.receipt": {
          guard: "isReceiptOfGroupSent",
          target: "idle",
          description: "Claim 34: the receipt releases the lock; its requests await the write.",
          meta: CLAIM_34,
          actions: [
            assign(({ context }) => ({
              sending: undefined,
              awaitingWrite: context.awaitingWrite + context.sending!.length,
            })),
            "releaseLock",
          ],
        },
      },
    },
  },
});

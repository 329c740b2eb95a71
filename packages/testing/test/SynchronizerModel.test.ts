import { synchronizerMachine } from "@spool/actors";
import { memoryAdapter } from "@spool/adapters";
import { describe, expect, it } from "vitest";
import {
  declaredSynchronizerSteps,
  MODEL_VARIANTS,
  type ModelPath,
  PathFailed,
  runSynchronizerPath,
  shortestStatePaths,
  simplePaths,
  transitionPaths,
} from "../src/index.js";

const fresh = () => ({ factory: memoryAdapter(), dir: "/model" });

// Slow writers (issue 17, finding 10) tripled the states to traverse (the pipelined variant's
// edge paths number about 5,900, each run through the real runtime): 1-5 s a variant here,
// which the default 5 s per test does not leave room for on a loaded machine.
const PATHS_TIMEOUT_MS = 180_000;

/** Runs every path; returns the declared steps they took and the records read back. */
async function runAll(paths: readonly ModelPath[]) {
  const steps = new Set<string>();
  let recordsReadBack = 0;
  for (const path of paths) {
    const report = await runSynchronizerPath(path, fresh());
    for (const step of report.steps) steps.add(step);
    recordsReadBack += report.recordsReadBack;
  }
  return { steps, recordsReadBack };
}

/**
 * The claim-64 flowchart's arrows, written down from the claims: the tables must declare each
 * one (a transition removed from a table fails here, not only in coverage).
 */
const FLOWCHART = [
  "receiving --sync.requests--> decidingFlush",
  "decidingFlush --> mapping",
  "decidingFlush --> writing",
  "decidingFlush --> waitingForTrigger",
  "waitingForTrigger --after nextTrigger--> decidingFlush",
  "mapping --map.done--> writing",
  "writing --disk.written--> confirming",
  "writing --sync.requests--> writing",
  // Claim 1: clear the batch once every writer confirmed (or timed out); then, with nothing
  // written ahead of it, check for skipped and parked requests.
  "confirming --writer.confirmed--> checkingSkipped",
  "confirming --writer.confirmTimedOut--> checkingSkipped",
  "confirming --writer.confirmed--> promotingAhead",
  // Issue 17, finding 10: a writer that misses the batch's deadline is marked slow and the
  // batch clears without it; its owed confirmation is counted when it comes, in every state
  // (the runtime's book settles it whatever the machine is doing).
  "confirming --writer.confirmDeadline--> checkingSkipped",
  "* --writer.lateConfirmed--> *",
  "checkingSkipped --> notifyingSkipped",
  "checkingSkipped --> takingParked",
  "checkingSkipped --> receiving",
  "takingParked --> decidingFlush",
  "writing --disk.failed--> failing",
  "failing --> broken",
  // Pipelining: a batch gathered while one flushes goes to the disk beside it once the first
  // batch's bytes are handed over; it is confirmed after the first clears.
  "writing --disk.submitted--> decidingAhead",
  "writing --sync.requests--> decidingAhead",
  "decidingAhead --> writingAhead",
  "writingAhead --disk.written--> confirming",
  "promotingAhead --> confirming",
  "promotingAhead --> decidingAhead",
];

describe("synchronizer model-based tests (claims 1, 14-16, 34, 64-69)", () => {
  const covered = new Set<string>();

  for (const variant of Object.keys(MODEL_VARIANTS)) {
    it(
      `the runtime follows the model on a shortest path to every state (${variant})`,
      async () => {
        const paths = shortestStatePaths(variant);
        expect(paths.length).toBeGreaterThan(50);
        const { steps } = await runAll(paths);
        for (const step of steps) covered.add(step);
      },
      PATHS_TIMEOUT_MS,
    );

    it(
      `the runtime follows the model across every edge of the state graph (${variant})`,
      async () => {
        const { steps, recordsReadBack } = await runAll(transitionPaths(variant));
        expect(recordsReadBack).toBeGreaterThan(0);
        for (const step of steps) covered.add(step);
      },
      PATHS_TIMEOUT_MS,
    );

    it(
      `the runtime follows the model on simple paths to closed and broken (${variant})`,
      async () => {
        const paths = simplePaths(variant, 100);
        expect(paths.length).toBeGreaterThan(10);
        const { steps } = await runAll(paths);
        for (const step of steps) covered.add(step);
      },
      PATHS_TIMEOUT_MS,
    );
  }

  it("the machine declares every arrow of the claim-64 flowchart", () => {
    const declared = declaredSynchronizerSteps();
    expect(FLOWCHART.filter((step) => !declared.has(step))).toEqual([]);
  });

  it("the paths took every state and every declared step of the flowchart", () => {
    const missing = [...declaredSynchronizerSteps()].filter((step) => !covered.has(step));
    expect(missing).toEqual([]);
    // `*` is every state: the steps of events every state takes in place.
    const states = new Set([...covered].map((step) => step.split(" ")[0]));
    states.delete("*");
    expect([...states].sort()).toEqual(
      [
        "broken",
        "checkingSkipped",
        "failing",
        "confirming",
        "decidingFlush",
        "mapping",
        "notifyingSkipped",
        "receiving",
        "takingParked",
        "waitingForRequest",
        "waitingForTrigger",
        "writing",
        "writingAhead",
        "decidingAhead",
        "promotingAhead",
      ].sort(),
    );
  });

  // Each guard of the machine, broken one at a time in the machine the runtime runs (the model
  // keeps the real one): some path must tell. A guard whose mutant no path catches is one the
  // tests do not check.
  const MUTANTS: readonly { guard: string; broken: () => boolean; variant: string }[] = [
    { guard: "shouldFlush", broken: () => false, variant: "immediate" },
    { guard: "hasTimedTrigger", broken: () => false, variant: "timed" },
    { guard: "isMapped", broken: () => true, variant: "immediate" },
    { guard: "gathersBeside", broken: () => false, variant: "pipelined" },
    { guard: "hasBatchWaiting", broken: () => false, variant: "pipelined" },
    { guard: "mayWriteAhead", broken: () => false, variant: "pipelined" },
    { guard: "awaitsSubmission", broken: () => false, variant: "pipelined" },
    { guard: "isAheadBatch", broken: () => false, variant: "pipelined" },
    { guard: "isInFlightBatch", broken: () => true, variant: "immediate" },
    { guard: "isLastConfirmation", broken: () => true, variant: "timed" },
    { guard: "hasAhead", broken: () => false, variant: "pipelined" },
    { guard: "aheadWritten", broken: () => false, variant: "pipelined" },
    { guard: "hasSkipped", broken: () => false, variant: "immediate" },
    { guard: "hasParked", broken: () => false, variant: "immediate" },
    { guard: "hasGathered", broken: () => false, variant: "pipelined" },
    { guard: "isClosing", broken: () => false, variant: "immediate" },
  ];

  for (const { guard, broken, variant } of MUTANTS) {
    it(
      `a runtime whose machine has ${guard} broken fails a path (${variant})`,
      async () => {
        const machine = synchronizerMachine.provide({ guards: { [guard]: broken } });
        let failure: unknown;
        for (const path of transitionPaths(variant)) {
          try {
            await runSynchronizerPath(path, fresh(), { machine });
          } catch (error) {
            failure = error;
            break;
          }
        }
        expect(failure).toBeInstanceOf(PathFailed);
      },
      PATHS_TIMEOUT_MS,
    );
  }

  it("every guard of the machine has a mutant above", () => {
    const guards = Object.keys(synchronizerMachine.implementations.guards).sort();
    expect(MUTANTS.map((mutant) => mutant.guard).sort()).toEqual(guards);
  });
});

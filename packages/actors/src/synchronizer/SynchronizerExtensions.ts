/**
 * What a spool's user may change in its data synchronizer: the machine it runs (one made from
 * {@link synchronizerMachine} with `provide`) and an xstate inspector. Checked at open.
 */
import { ConfigInvalid, describeValue } from "@spool/core";
import { synchronizerMachine } from "../machines/SynchronizerMachine.js";
import type { InspectionObserver, SynchronizerOptions } from "./Synchronizer.js";

/** The synchronizer options a spool's user may set. @example { machine, inspect } */
export type SynchronizerExtensions = Pick<SynchronizerOptions, "machine" | "inspect">;

/**
 * The `synchronizerMachine` and `inspect` options, checked: the machine must be
 * {@link synchronizerMachine} or made from it by `provide` (which keeps its config, so the
 * runtime's states and events are the ones it knows), `inspect` a function or an observer.
 * Anything else is `ConfigInvalid` naming the option.
 *
 * @example
 * synchronizerExtensions(synchronizerMachine.provide({ actors: { flushBatch } }), undefined)
 */
export function synchronizerExtensions(machine: unknown, inspect: unknown): SynchronizerExtensions {
  const isOurs =
    typeof machine === "object" &&
    machine !== null &&
    (machine as { config?: unknown }).config === synchronizerMachine.config;
  if (machine !== undefined && !isOurs) {
    const rule = "must be synchronizerMachine or made from it with provide";
    const message = `synchronizerMachine: ${rule}, not ${describeValue(machine)}`;
    throw new ConfigInvalid({ field: "synchronizerMachine", message });
  }
  const isObserver =
    typeof inspect === "function" ||
    (typeof inspect === "object" &&
      inspect !== null &&
      typeof (inspect as { next?: unknown }).next === "function");
  if (inspect !== undefined && !isObserver) {
    const rule = "must be a function or an observer with next";
    const message = `inspect: ${rule}, not ${describeValue(inspect)}`;
    throw new ConfigInvalid({ field: "inspect", message });
  }
  return {
    ...(machine === undefined ? {} : { machine: machine as typeof synchronizerMachine }),
    ...(inspect === undefined ? {} : { inspect: inspect as InspectionObserver }),
  };
}

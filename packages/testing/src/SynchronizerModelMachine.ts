/**
 * The machine behind the synchronizer's test model: the configurations (variants) the model
 * runs under, and the real {@link synchronizerMachine} set up to take the model's steps, with
 * its services stubbed and its microsteps recorded (ModelScope). The model itself, its actions
 * and its abstraction are in SynchronizerModel.ts.
 */

import {
  SynchronizerCounters,
  type SynchronizerServices,
  synchronizerMachine,
} from "@spool/actors";
import {
  byteOffset,
  resolveConfig,
  type SpoolConfig,
  type SpoolOptions,
  segmentNumber,
  seq,
} from "@spool/core";
import { type AnyActorScope, type AnyTransitionDefinition, createActor } from "xstate";

/**
 * The configurations the model runs under: no single one reaches every state (a timed trigger
 * and "wait for a request" exclude each other), so coverage is their union. Small pages and
 * segments make page-span refusals and segment rolls happen within a few requests; one slot of
 * temporary storage makes the second request that arrives during a write a skipped one.
 */
export const MODEL_VARIANTS: Readonly<Record<string, SpoolOptions>> = {
  // Flush as soon as the intake is drained (the default idle trigger of 0 ms).
  immediate: {},
  // Timed triggers: wait up to 2 ms idle or 10 ms since the first request, or 3 requests.
  timed: { idleTimeMsMax: 2, gatherTimeMsMax: 10, batchCountMax: 3 },
  // No timed trigger: only 2 requests, a refusal or a close flush.
  untimed: { idleTimeMsMax: null, gatherTimeMsMax: null, sinceLastFlushMs: null, batchCountMax: 2 },
  // Pipelining: two small requests gathered while the disk is idle are written as two batches,
  // and a batch gathered while one flushes is written beside it.
  pipelined: { pipelineSplitByteSize: 200 },
  // One-page segments: a segment rolls (and the next is mapped) every few requests, so a
  // writer marked slow still owes confirmations while the next segment is mapped.
  rolling: { segmentByteSize: 4096, recordPayloadByteSizeMax: 3500 },
};

/** The rolling variant's segment size: one page. */
export const ROLLING_SEGMENT_BYTE_SIZE = 4096;

/** The options every variant shares. */
const MODEL_BASE: SpoolOptions = {
  pageByteSize: 4096,
  segmentByteSize: 16384,
  recordPayloadByteSizeMax: 8192,
  maxPageSpan: 1,
  temporaryStorageCountMax: 1,
  confirmTimeoutMs: 1000,
  indexSegmentEntries: 64,
  // One batch on the disk at a time, unless a variant pipelines.
  pipelineSplitByteSize: null,
};

/** A variant's resolved config. @example modelConfig("timed").batchCountMax // 3 */
export function modelConfig(variant: string): SpoolConfig {
  const options = MODEL_VARIANTS[variant];
  if (options === undefined) throw new Error(`no model variant ${variant}`);
  // `resolveConfig` refuses a config with no timed trigger (nothing would flush a lone append),
  // but the machine still handles one: it waits for the next request. The untimed variant's
  // triggers are set after validation, so the model reaches those states.
  const { idleTimeMsMax, gatherTimeMsMax, sinceLastFlushMs, ...checked } = options;
  const timed = Object.fromEntries(
    Object.entries({ idleTimeMsMax, gatherTimeMsMax, sinceLastFlushMs }).filter(
      ([, value]) => value !== undefined,
    ),
  );
  return { ...resolveConfig({ ...MODEL_BASE, ...checked }), ...timed };
}

/** Where the model's machine reaches: nothing, but for counters of its own. */
function modelServices(): SynchronizerServices {
  const never = () => new Promise<never>(() => undefined);
  return {
    clock: () => 0,
    counters: new SynchronizerCounters(),
    map: never,
    write: never,
    confirm: () => () => undefined,
    resend: () => undefined,
    reject: () => undefined,
    fault: (where) => {
      throw new Error(`the model's machine faulted in ${where}`);
    },
  };
}

/**
 * What one model step ran: the transitions xstate took (from its microstep inspection events)
 * and the actions it executed, by type.
 */
interface StepRun {
  readonly transitions: AnyTransitionDefinition[];
  readonly actions: string[];
}

/**
 * A scope to run the machine's transitions in, as xstate's own `transition` does, except that
 * the machine's own actions run (against the stub services: counting, checks) and the
 * microsteps are recorded. xstate's built-in actions (delays, messages to the flusher and the
 * courier) do not run: the model has no clock and no children.
 */
class ModelScope {
  run: StepRun = { transitions: [], actions: [] };
  readonly scope: AnyActorScope;

  constructor(machine: typeof synchronizerMachine, input: unknown) {
    const self = createActor(machine, {
      input: input as never,
      inspect: (event) => {
        if (event.type === "@xstate.microstep") {
          this.run.transitions.push(
            ...(event as { _transitions: AnyTransitionDefinition[] })._transitions,
          );
        }
      },
    });
    this.scope = {
      self,
      defer: () => undefined,
      id: "",
      logger: () => undefined,
      sessionId: "",
      stopChild: () => undefined,
      system: self.system,
      emit: () => undefined,
      actionExecutor: (action: {
        type: string;
        info: unknown;
        params: unknown;
        exec?: (info: unknown, params: unknown) => void;
      }) => {
        this.run.actions.push(action.type);
        if (!action.type.startsWith("xstate.")) action.exec?.(action.info, action.params);
      },
    } as unknown as AnyActorScope;
  }
}

/** The model's machine, its scope and its counters, for one config. */
interface ModelMachine {
  readonly machine: typeof synchronizerMachine;
  readonly scope: ModelScope;
  readonly counters: SynchronizerCounters;
}

const MODEL_MACHINES = new WeakMap<SpoolConfig, Map<typeof synchronizerMachine, ModelMachine>>();

/** The model's machine for a config (and machine), made once and kept. */
export function modelMachine(
  config: SpoolConfig,
  machine: typeof synchronizerMachine = synchronizerMachine,
): ModelMachine {
  let byMachine = MODEL_MACHINES.get(config);
  if (byMachine === undefined) {
    byMachine = new Map();
    MODEL_MACHINES.set(config, byMachine);
  }
  let found = byMachine.get(machine);
  if (found === undefined) {
    const services = modelServices();
    const input = { config, cursor: MODEL_CURSOR, nowMs: 0, services };
    found = { machine, scope: new ModelScope(machine, input), counters: services.counters };
    byMachine.set(machine, found);
  }
  return found;
}

const MODEL_CURSOR = { segment: segmentNumber(1), offset: byteOffset(0), nextSeq: seq(1) };

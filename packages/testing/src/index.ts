/**
 * `@spool/testing`: model-based tests of the synchronizer and writer machines, and the
 * conformance suites for flush adapters and for logs. For tests only: nothing here is used by a
 * running spool.
 */
export { DurabilityRecorder, type PowerCutImage } from "./DurabilityRecorder.js";
export {
  type AdapterCheck,
  AdapterCheckFailed,
  type AdapterStore,
  flushAdapterChecks,
  testFlushAdapter,
} from "./FlushAdapterSuite.js";
export { type DurableBytes, observedFactory } from "./FlushObserver.js";
export {
  type LogStore,
  logAdapterChecks,
  STEPS_NOT_ON_A_LOG,
  testLogAdapter,
} from "./LogAdapterSuite.js";
export {
  choiceStates,
  type DeclaredStep,
  declaredSteps,
  eventName,
  stepOf,
} from "./MachineSteps.js";
export { MemoryLog } from "./MemoryLog.js";
// Real nats-server processes for tests of stores on JetStream (`@spool/jetstream`, the gateway).
export {
  type NatsCluster,
  type NatsClusterOptions,
  type NatsServer,
  startNatsCluster,
} from "./nats/NatsCluster.js";
export { agreedLeader, type LeaderView } from "./nats/NatsMonitoring.js";
export {
  type FreshStore,
  PathFailed,
  type PathReport,
  type RunOptions,
  runSynchronizerPath,
} from "./SynchronizerHarness.js";
export { type FreshLog, runLogPath } from "./SynchronizerLogHarness.js";
export {
  AUTOMATIC_ACTIONS,
  abstractState,
  isAutomatic,
  type ModelEvent,
  type ModelStore,
  possibleActions,
  type SynchronizerAction,
  type SynchronizerModelState,
  synchronizerModelLogic,
} from "./SynchronizerModel.js";
export { MODEL_VARIANTS, modelConfig } from "./SynchronizerModelMachine.js";
export {
  actionContract,
  coveringPaths,
  declaredSynchronizerSteps,
  type ModelPath,
  pathSteps,
  shortestStatePaths,
  simplePaths,
  transitionPaths,
} from "./SynchronizerPaths.js";
export {
  checkWriterModel,
  declaredWriterTransitions,
  isRefusal,
  possibleWriterEvents,
  runWriterPath,
  transitionKey,
  type WriterMachine,
  type WriterModelReport,
  type WriterPath,
  WriterPathFailed,
  type WriterSnapshot,
  writerEdgePaths,
  writerStateKey,
  writerStatePaths,
  writerTransitionsTaken,
} from "./WriterModel.js";

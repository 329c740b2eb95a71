// The errors `append` rejects with, as one closed union, for callers that match them all.
export type { AppendError } from "@spool/core";
export { isAppendError } from "@spool/core";
export * as SpoolEffect from "./effect/SpoolEffect.js";
// The argument checks, for a store of another package that keeps Spool's API (`@spool/jetstream`).
export {
  checkCount,
  checkDurationMs,
  checkFunction,
  checkOptions,
  checkSeq,
} from "./internal/Arguments.js";
export type { SlowWriter, SlowWriters } from "./machines/SlowWriters.js";
// `notAwaitedWriters` for @spool/testing's harness, which counts the confirmations a batch owes.
export {
  type DiskSlot,
  heldRequests,
  type LogPosition,
  notAwaitedWriters,
  type SynchronizerContext,
  type SynchronizerInput,
  type WriteOutcome,
} from "./machines/SynchronizerContext.js";
export {
  type CourierEvent,
  type FlusherEvent,
  type SynchronizerEvent,
  type SynchronizerPhase,
  type SynchronizerSnapshot,
  synchronizerMachine,
} from "./machines/SynchronizerMachine.js";
export type {
  ConfirmationReport,
  ConfirmJob,
  DiskFailure,
  FlushJob,
  SynchronizerServices,
} from "./machines/SynchronizerServices.js";
export {
  type WriterContext,
  type WriterEvent,
  type WriterGroup,
  type WriterMeta,
  type WriterPhase,
  writerMachine,
} from "./machines/WriterMachine.js";
export {
  inspectSpool,
  type SpoolInspection,
  type VerifyFinding,
  verifySpool,
} from "./operators/Inspect.js";
export {
  DAMAGED_FOLDER_NAME,
  type SalvageOptions,
  type SalvageReport,
  type SeqRange,
  salvageSpool,
} from "./operators/Salvage.js";
export { BatchReports } from "./spool/BatchReports.js";
export {
  ANSWERS_IN_FLIGHT_PER_HANDLER,
  type ConsumeOptions,
  type ConsumerSource,
  startConsumer,
} from "./spool/Consumer.js";
export type { DurableRecord } from "./spool/DurableRecords.js";
export { FILE_SHAPING_OPTIONS, type FileShapingOption } from "./spool/Manifest.js";
export {
  type Consumer,
  type DeadLetter,
  type Lease,
  type MessageState,
  type OpenReport,
  type OpenSpoolOptions,
  openSpool,
  RECENT_BATCHES,
  Spool,
  type SpoolStats,
} from "./spool/Spool.js";
export type {
  Awaitable,
  SpoolApi,
  SpoolApiStats,
  StoredRecord,
} from "./spool/SpoolApi.js";
export { type FailureListener, FailureSignal } from "./spool/SpoolFailure.js";
export { BatchWriter, type BatchWriterOptions } from "./synchronizer/BatchWriter.js";
export { type BatchSink, LogWriter } from "./synchronizer/LogWriter.js";
export {
  type BatchReport,
  type InspectionObserver,
  REAL_TIMERS,
  Synchronizer,
  type SynchronizerOptions,
  type SynchronizerPort,
  type SynchronizerTimers,
  type TimerPurpose,
  type WriterEndpoint,
  type WrittenNotice,
} from "./synchronizer/Synchronizer.js";
export { SynchronizerCounters, type SynchronizerStats } from "./synchronizer/SynchronizerStats.js";
export { SOCKET_PROTOCOL_VERSION } from "./transports/SocketFrames.js";
export {
  openSpoolThread,
  type SpoolThread,
  type SpoolThreadOptions,
  type ThreadAdapterName,
} from "./transports/SpoolThread.js";
export {
  connectWriter,
  type PortWriter,
  RECEIPT_WINDOW,
  WRITER_PORT_VERSION,
} from "./transports/WriterPort.js";
export {
  connectSocketWriter,
  type SocketWriterOptions,
  serveWriters,
  type WriterServer,
  type WriterServerOptions,
} from "./transports/WriterSocket.js";
export {
  inProcessLock,
  type LockEvent,
  type LockState,
  lockLogic,
  type SharedLock,
} from "./writers/SharedLock.js";
export { SHARED_LOCK_BYTE_SIZE, SharedMemoryLock } from "./writers/SharedMemoryLock.js";
export {
  type AppendOptions,
  type AppendResult,
  type SenderContext,
  SenderRuntime,
  Writer,
} from "./writers/Writer.js";
export { WriterHandles, type WriterHandlesOptions } from "./writers/WriterHandles.js";

// The errors `append` rejects with, as one closed union, for callers that match them all.
export type { AppendError } from "@spool/core";
export { BatchReports } from "./BatchReports.js";
export { BatchWriter, type BatchWriterOptions } from "./BatchWriter.js";
export {
  ANSWERS_IN_FLIGHT_PER_HANDLER,
  type ConsumeOptions,
  type ConsumerSource,
  startConsumer,
} from "./Consumer.js";
export type { DurableRecord } from "./DurableRecords.js";
export { inspectSpool, type SpoolInspection, type VerifyFinding, verifySpool } from "./Inspect.js";
// The argument checks, for a store of another package that keeps Spool's API (`@spool/jetstream`).
export {
  checkCount,
  checkDurationMs,
  checkFunction,
  checkOptions,
  checkSeq,
} from "./internal/Arguments.js";
export { type BatchSink, LogWriter } from "./LogWriter.js";
export { FILE_SHAPING_OPTIONS, type FileShapingOption } from "./Manifest.js";
export {
  DAMAGED_FOLDER_NAME,
  type SalvageOptions,
  type SalvageReport,
  type SeqRange,
  salvageSpool,
} from "./Salvage.js";
export {
  inProcessLock,
  type LockEvent,
  type LockState,
  lockLogic,
  type SharedLock,
} from "./SharedLock.js";
export { SHARED_LOCK_BYTE_SIZE, SharedMemoryLock } from "./SharedMemoryLock.js";
export type { SlowWriter, SlowWriters } from "./SlowWriters.js";
export { SOCKET_PROTOCOL_VERSION } from "./SocketFrames.js";
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
} from "./Spool.js";
export type {
  Awaitable,
  SpoolApi,
  SpoolApiStats,
  StoredRecord,
} from "./SpoolApi.js";
export * as SpoolEffect from "./SpoolEffect.js";
export { type FailureListener, FailureSignal } from "./SpoolFailure.js";
export {
  openSpoolThread,
  type SpoolThread,
  type SpoolThreadOptions,
  type ThreadAdapterName,
} from "./SpoolThread.js";
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
} from "./Synchronizer.js";
// `notAwaitedWriters` for @spool/testing's harness, which counts the confirmations a batch owes.
export {
  type DiskSlot,
  heldRequests,
  type LogPosition,
  notAwaitedWriters,
  type SynchronizerContext,
  type SynchronizerInput,
  type WriteOutcome,
} from "./SynchronizerContext.js";
export {
  type CourierEvent,
  type FlusherEvent,
  type SynchronizerEvent,
  type SynchronizerPhase,
  type SynchronizerSnapshot,
  synchronizerMachine,
} from "./SynchronizerMachine.js";
export type {
  ConfirmationReport,
  ConfirmJob,
  DiskFailure,
  FlushJob,
  SynchronizerServices,
} from "./SynchronizerServices.js";
export { SynchronizerCounters, type SynchronizerStats } from "./SynchronizerStats.js";
export {
  type AppendOptions,
  type AppendResult,
  type SenderContext,
  SenderRuntime,
  Writer,
} from "./Writer.js";
export { WriterHandles, type WriterHandlesOptions } from "./WriterHandles.js";
export {
  type WriterContext,
  type WriterEvent,
  type WriterGroup,
  type WriterMeta,
  type WriterPhase,
  writerMachine,
} from "./WriterMachine.js";
export {
  connectWriter,
  type PortWriter,
  RECEIPT_WINDOW,
  WRITER_PORT_VERSION,
} from "./WriterPort.js";
export {
  connectSocketWriter,
  type SocketWriterOptions,
  serveWriters,
  type WriterServer,
  type WriterServerOptions,
} from "./WriterSocket.js";

export { inspectSpool, type SpoolInspection, type VerifyFinding, verifySpool } from "./Inspect.js";
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
  type DurableRecord,
  type Lease,
  type MessageState,
  type OpenReport,
  type OpenSpoolOptions,
  openSpool,
  RECENT_BATCHES,
  Spool,
  type SpoolStats,
} from "./Spool.js";
export * as SpoolEffect from "./SpoolEffect.js";
export type { FailureListener } from "./SpoolFailure.js";
export {
  openSpoolThread,
  type SpoolThread,
  type SpoolThreadOptions,
  type ThreadAdapterName,
} from "./SpoolThread.js";
export {
  type BatchReport,
  REAL_TIMERS,
  Synchronizer,
  type SynchronizerOptions,
  type SynchronizerPort,
  type SynchronizerTimers,
  type TimerPurpose,
  type WriterEndpoint,
  type WrittenNotice,
} from "./Synchronizer.js";
export {
  type CourierCommand,
  type DiskCommand,
  initialSynchronizerState,
  type LogPosition,
  SYNCHRONIZER_CHOICES,
  SYNCHRONIZER_EVERYWHERE,
  SYNCHRONIZER_STATES,
  type SynchronizerChoice,
  type SynchronizerCommand,
  type SynchronizerContext,
  type SynchronizerEvent,
  type SynchronizerNode,
  type SynchronizerPhase,
  type SynchronizerStats,
  synchronizerLogic,
  synchronizerTransition,
  type TimerCommand,
  traceSynchronizerTransition,
  type WriteOutcome,
} from "./SynchronizerMachine.js";
export {
  type AppendOptions,
  type AppendResult,
  type SenderContext,
  SenderRuntime,
  Writer,
} from "./Writer.js";
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

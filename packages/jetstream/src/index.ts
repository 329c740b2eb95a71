export { ClusterUnavailable, StreamMismatch } from "./JetStreamError.js";
export { JetStreamLog, type JetStreamLogOptions } from "./JetStreamLog.js";
export {
  DUPLICATE_WINDOW_MS,
  type JetStreamSettings,
  type JetStreamSpoolOptions,
  jetStreamSettings,
} from "./JetStreamOptions.js";
export { JetStreamSpool, type JetStreamSpoolStats, openJetStreamSpool } from "./JetStreamSpool.js";
export type { StreamDeadLetter } from "./StreamDeadLetters.js";
export type { StreamMessageState, StreamQueueStats } from "./StreamQueue.js";
export type { StreamRecord } from "./StreamRecords.js";
export { deadLetterStreamName, LEASES_PENDING_MAX, maxDeliveriesSubject } from "./Streams.js";

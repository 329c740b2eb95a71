export type {
  AppendingWriter,
  MeasuredWriter,
} from "./MeasuredWriter.js";
export {
  ATTRIBUTE_KEYS,
  BATCH_BYTE_BUCKETS,
  BATCH_RECORD_BUCKETS,
  createSpoolInstruments,
  DURATION_BUCKETS_MS,
  INSTRUMENT_NAMES,
  SPOOL_METER_NAME,
  SPOOL_METER_VERSION,
  type SpoolInstruments,
} from "./SpoolInstruments.js";
export {
  instrumentSpool,
  type MeasuredSpool,
  type SpoolTelemetry,
  type SpoolTelemetryOptions,
} from "./SpoolTelemetry.js";

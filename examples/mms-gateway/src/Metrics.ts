/**
 * `/metrics` in Prometheus text format (prom-client): submissions and deliveries by outcome,
 * the queue's depth (by state on a directory: a stream does not count its messages by state)
 * and flushes by reason (read from the spool at each scrape), and histograms of batch sizes
 * and of how long an accepted message took to become durable.
 */
import type { BatchReport } from "@spool/actors";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { GatewaySpool } from "./GatewaySpool.js";

export interface Metrics {
  readonly registry: Registry;
  readonly submissions: Counter<"result" | "status">;
  readonly deliveries: Counter<"result">;
  readonly reports: Counter;
  /** From the append to its durable acknowledgement, per accepted message. */
  readonly durableSeconds: Histogram;
  /** Feeds the batch histograms from the spool's batch reports. */
  readonly observeBatch: (report: BatchReport) => void;
}

/** The metrics of a gateway over `spool`. */
export function gatewayMetrics(spool: GatewaySpool): Metrics {
  const registry = new Registry();
  const submissions = new Counter({
    name: "mm7_submissions_total",
    help: "SubmitReq answered, by result and MM7 status code",
    labelNames: ["result", "status"] as const,
    registers: [registry],
  });
  const deliveries = new Counter({
    name: "mms_deliveries_total",
    help: "Forwarding attempts and reports, by result (README: Delivery, retries and expiry)",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const reports = new Counter({
    name: "mm7_delivery_reports_total",
    help: "DeliveryReportReq posted to VASPs",
    registers: [registry],
  });
  const durableSeconds = new Histogram({
    name: "spool_append_durable_seconds",
    help: "From a message's append to its durable acknowledgement",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  const batchRecords = new Histogram({
    name: "spool_batch_records",
    help: "Records per written batch (group commit)",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [registry],
  });
  const batchWriteSeconds = new Histogram({
    name: "spool_batch_write_seconds",
    help: "From a batch's write to its flush completing",
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
    registers: [registry],
  });
  new Gauge({
    name: "spool_queue_messages",
    help: "Messages not done, by state",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      // Only a directory counts them: on a stream the series are absent, not zero.
      for (const [state, count] of Object.entries(spool.stats().messages ?? {})) {
        this.set({ state }, count);
      }
    },
  });
  new Gauge({
    name: "spool_queue_depth",
    help: "Messages not done, dead letters excluded (on a stream: the stream's, every gateway's)",
    registers: [registry],
    async collect() {
      try {
        this.set(await spool.depth());
      } catch {
        // A stream whose cluster does not answer: the last depth stands, the scrape goes on.
      }
    },
  });
  new Counter({
    name: "spool_flushes_total",
    help: "Batches flushed, by the condition that closed them (claims 5-13)",
    labelNames: ["reason"] as const,
    registers: [registry],
    collect() {
      // The spool counts; the scrape copies its totals.
      this.reset();
      for (const [reason, count] of Object.entries(spool.stats().flushReasons)) {
        this.inc({ reason }, count);
      }
    },
  });
  return {
    registry,
    submissions,
    deliveries,
    reports,
    durableSeconds,
    observeBatch: (report) => {
      batchRecords.observe(report.records);
      batchWriteSeconds.observe(report.writeMs / 1000);
    },
  };
}

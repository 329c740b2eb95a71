/**
 * The spools' OpenTelemetry metrics (`@spool/otel`), collected by the gateway's own SDK and
 * served as JSON on the admin listener's `/metrics/otel`, next to the Prometheus page. The SDK's
 * meter provider has one reader that collects when the page is asked for, so nothing runs on
 * a timer; an application that exports to a collector would give the provider a periodic
 * reader with an OTLP exporter instead (`docs/telemetry.md`).
 */
import type { Attributes } from "@opentelemetry/api";
import {
  DataPointType,
  MeterProvider,
  type MetricData,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import { instrumentSpool, type MeasuredWriter } from "@spool/otel";
import type { GatewaySpool } from "./GatewaySpool.js";

/** A reader that collects only when asked: a scrape of `/metrics/otel`. */
class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** The gateway's OpenTelemetry side. */
export interface OtelMetrics {
  /** A writer of the messages spool whose appends are measured (`spool.append.duration`). */
  messagesWriter(name: string): MeasuredWriter;
  /** What the SDK collected now, as the JSON `/metrics/otel` serves. */
  collect(): Promise<string>;
  /** Stops measuring both spools and shuts the SDK down; before the spools close. */
  close(): Promise<void>;
}

/**
 * Measures the gateway's two spools on an SDK of its own, told apart by `spool.name`
 * (`messages`, `reports`).
 *
 * @example
 * const otel = otelMetrics(messages, reports);
 * const writer = otel.messagesWriter("mm7");
 */
export function otelMetrics(messages: GatewaySpool, reports: GatewaySpool): OtelMetrics {
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const measured = [
    instrumentSpool(messages, { meterProvider, attributes: { "spool.name": "messages" } }),
    instrumentSpool(reports, { meterProvider, attributes: { "spool.name": "reports" } }),
  ] as const;
  let closing: Promise<void> | undefined;
  return {
    messagesWriter: (name) => measured[0].writer(name),
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      return JSON.stringify({
        ...serializeMetrics(resourceMetrics),
        errors: errors.map((error) => String(error)),
      });
    },
    close() {
      closing ??= (async () => {
        for (const telemetry of measured) telemetry.dispose();
        await meterProvider.shutdown();
      })();
      return closing;
    },
  };
}

/** One point of a metric, as served: a number, or a histogram's buckets and totals. */
type SerializedPoint =
  | { readonly attributes: Attributes; readonly value: number }
  | {
      readonly attributes: Attributes;
      readonly count: number;
      readonly sum: number | null;
      readonly min: number | null;
      readonly max: number | null;
      readonly buckets: { readonly boundaries: number[]; readonly counts: number[] };
    };

/** One metric, as served. */
interface SerializedMetric {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly type: "sum" | "gauge" | "histogram" | "exponentialHistogram";
  readonly points: SerializedPoint[];
}

/**
 * The collected metrics as plain JSON: per instrumentation scope, each metric's name, unit,
 * description, type and points (timestamps left out: a page shows the state now).
 *
 * @example
 * serializeMetrics(resourceMetrics).scopes[0].metrics[0].name // "spool.append.duration"
 */
export function serializeMetrics(resourceMetrics: ResourceMetrics): {
  readonly resource: Attributes;
  readonly scopes: { name: string; version: string | null; metrics: SerializedMetric[] }[];
} {
  return {
    resource: resourceMetrics.resource.attributes,
    scopes: resourceMetrics.scopeMetrics.map(({ scope, metrics }) => ({
      name: scope.name,
      version: scope.version ?? null,
      metrics: metrics.map(serializeMetric),
    })),
  };
}

function serializeMetric(metric: MetricData): SerializedMetric {
  const { name, description, unit } = metric.descriptor;
  switch (metric.dataPointType) {
    case DataPointType.SUM:
    case DataPointType.GAUGE: {
      const type = metric.dataPointType === DataPointType.SUM ? "sum" : "gauge";
      const points = metric.dataPoints.map(({ attributes, value }) => ({ attributes, value }));
      return { name, description, unit, type, points };
    }
    case DataPointType.HISTOGRAM: {
      const points = metric.dataPoints.map(({ attributes, value }) => ({
        attributes,
        count: value.count,
        sum: value.sum ?? null,
        min: value.min ?? null,
        max: value.max ?? null,
        buckets: value.buckets,
      }));
      return { name, description, unit, type: "histogram", points };
    }
    case DataPointType.EXPONENTIAL_HISTOGRAM: {
      // No view here asks for one; counted, so a view that did still shows its totals.
      const points = metric.dataPoints.map(({ attributes, value }) => ({
        attributes,
        value: value.count,
      }));
      return { name, description, unit, type: "exponentialHistogram", points };
    }
  }
}

/**
 * An OpenTelemetry SDK set up for tests: a meter provider whose one reader collects when the
 * test asks (no export interval, so nothing depends on time), and lookups of the collected
 * points by instrument name and attributes.
 */
import type { Attributes } from "@opentelemetry/api";
import {
  DataPointType,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import { expect } from "vitest";

/** A reader that collects only when `collect()` is called. */
export class ManualReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** What one collection gathered, looked up by instrument. */
export class Collected {
  readonly #metrics: Map<string, MetricData>;
  readonly scopes: readonly { readonly name: string; readonly version?: string | undefined }[];

  constructor(metrics: Map<string, MetricData>, scopes: Collected["scopes"]) {
    this.#metrics = metrics;
    this.scopes = scopes;
  }

  names(): string[] {
    return [...this.#metrics.keys()].sort();
  }

  metric(name: string): MetricData {
    const metric = this.#metrics.get(name);
    if (metric === undefined) throw new Error(`no metric ${name} (have: ${this.names()})`);
    return metric;
  }

  /** The value of the sum or gauge point whose attributes include `attributes`, summed. */
  value(name: string, attributes: Attributes = {}): number {
    const metric = this.metric(name);
    if (
      metric.dataPointType !== DataPointType.SUM &&
      metric.dataPointType !== DataPointType.GAUGE
    ) {
      throw new Error(`${name} is not a sum or a gauge`);
    }
    return metric.dataPoints
      .filter((point) => matches(point.attributes, attributes))
      .reduce((total, point) => total + point.value, 0);
  }

  /** The attribute values a metric's points carry for `key`, sorted. */
  attributeValues(name: string, key: string): unknown[] {
    return this.metric(name)
      .dataPoints.map((point) => point.attributes[key])
      .sort();
  }

  /** The histogram points whose attributes include `attributes`, merged (count and sum). */
  histogram(name: string, attributes: Attributes = {}): { count: number; sum: number } {
    const metric = this.metric(name);
    if (metric.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${name}: no histogram`);
    const points = metric.dataPoints.filter((point) => matches(point.attributes, attributes));
    return points.reduce(
      (total, point) => {
        const value: Histogram = point.value;
        return { count: total.count + value.count, sum: total.sum + (value.sum ?? 0) };
      },
      { count: 0, sum: 0 },
    );
  }
}

function matches(have: Attributes, want: Attributes): boolean {
  return Object.entries(want).every(([key, value]) => have[key] === value);
}

/** A meter provider with a manual reader. @example const { meterProvider, collect } = testSdk() */
export function testSdk(): { meterProvider: MeterProvider; collect: () => Promise<Collected> } {
  const reader = new ManualReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    meterProvider,
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      const metrics = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) metrics.set(metric.descriptor.name, metric);
      }
      const scopes = resourceMetrics.scopeMetrics.map(({ scope }) => ({
        name: scope.name,
        version: scope.version,
      }));
      return new Collected(metrics, scopes);
    },
  };
}

/**
 * SVG charts from one bench run, drawn by hand (no charting dependency): durable msgs/s
 * against concurrent writers for every system (log-log), the ack-latency CDF of every system
 * at one writer count, and acked msgs/s through the whole queue at each producers × consumers
 * shape.
 */
import { type CaseResult, isEndToEnd } from "./Measurement.js";

const WIDTH = 880;
const HEIGHT = 480;
const MARGIN = { left: 80, right: 230, top: 40, bottom: 50 };
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom;

// Colour-blind-safe palette (Okabe-Ito), then greys.
const COLOURS = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#F0E442",
  "#000000",
  "#777777",
  "#AAAAAA",
  "#444444",
];

interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function logScale(min: number, max: number, size: number, flip: boolean) {
  const low = Math.log10(min);
  const high = Math.log10(max);
  return (value: number) => {
    const share = (Math.log10(Math.max(value, min)) - low) / (high - low || 1);
    return flip ? size - share * size : share * size;
  };
}

/** Powers of ten between min and max, for grid lines. */
function decades(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let power = Math.floor(Math.log10(min)); power <= Math.ceil(Math.log10(max)); power++) {
    ticks.push(10 ** power);
  }
  return ticks;
}

function chart(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  xTicks: readonly number[];
  xTickLabel: (value: number) => string;
  xScale: (value: number) => number;
}): string {
  const values = options.series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => y > 0);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const y = logScale(yMin, yMax, PLOT_HEIGHT, true);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2 - MARGIN.right / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
    `<g transform="translate(${MARGIN.left},${MARGIN.top})">`,
  ];
  for (const tick of decades(yMin, yMax)) {
    const at = y(tick);
    parts.push(
      `<line x1="0" x2="${PLOT_WIDTH}" y1="${at}" y2="${at}" stroke="#ddd"/>`,
      `<text x="-8" y="${at + 4}" text-anchor="end">${tick.toLocaleString("en")}</text>`,
    );
  }
  for (const tick of options.xTicks) {
    const at = options.xScale(tick);
    parts.push(
      `<line x1="${at}" x2="${at}" y1="0" y2="${PLOT_HEIGHT}" stroke="#eee"/>`,
      `<text x="${at}" y="${PLOT_HEIGHT + 18}" text-anchor="middle">${options.xTickLabel(tick)}</text>`,
    );
  }
  parts.push(
    `<rect width="${PLOT_WIDTH}" height="${PLOT_HEIGHT}" fill="none" stroke="#999"/>`,
    `<text x="${PLOT_WIDTH / 2}" y="${PLOT_HEIGHT + 40}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(-62,${PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  for (const [index, series] of options.series.entries()) {
    const colour = COLOURS[index % COLOURS.length];
    const points = series.points
      .filter(([, value]) => value > 0)
      .map(([x, value]) => `${options.xScale(x).toFixed(1)},${y(value).toFixed(1)}`);
    const dash = series.name.startsWith("spool") ? "" : ' stroke-dasharray="5 3"';
    const width = series.name.startsWith("spool") ? 2.5 : 1.5;
    parts.push(
      `<polyline points="${points.join(" ")}" fill="none" stroke="${colour}" stroke-width="${width}"${dash}/>`,
      ...points.map((point) => {
        const [cx, cy] = point.split(",");
        return `<circle cx="${cx}" cy="${cy}" r="2.5" fill="${colour}"/>`;
      }),
      `<line x1="${PLOT_WIDTH + 14}" x2="${PLOT_WIDTH + 38}" y1="${index * 18 + 6}" y2="${index * 18 + 6}" stroke="${colour}" stroke-width="${width}"${dash}/>`,
      `<text x="${PLOT_WIDTH + 44}" y="${index * 18 + 10}">${escapeXml(series.name)}</text>`,
    );
  }
  parts.push("</g>", "</svg>");
  return `${parts.join("\n")}\n`;
}

/** Durable msgs/s against writers, one line per system (1 KiB messages, appends only). */
export function throughputChart(results: readonly CaseResult[], subtitle: string): string {
  const appendOnly = results.filter(
    (r) =>
      r.payloadByteSize === 1024 && !isEndToEnd(r.system) && !r.system.startsWith("disk-in-flight"),
  );
  const systems = [...new Set(appendOnly.map((r) => r.system))];
  const series = systems.map((name) => ({
    name,
    points: appendOnly
      .filter((r) => r.system === name)
      .map((r) => [r.writers, r.msgsPerSecond] as const),
  }));
  const writers = [...new Set(appendOnly.map((r) => r.writers))].sort((a, b) => a - b);
  const x = logScale(writers[0] ?? 1, writers.at(-1) ?? 256, PLOT_WIDTH, false);
  return chart({
    title: `Durable msgs/s, 1 KiB messages (${subtitle})`,
    xLabel: "concurrent writers",
    yLabel: "durable msgs/s (log)",
    series,
    xTicks: writers,
    xTickLabel: String,
    xScale: x,
  });
}

/** Ack latency CDF at `writers` concurrent writers, one line per system (1 KiB messages). */
export function latencyChart(
  results: readonly CaseResult[],
  writers: number,
  subtitle: string,
): string {
  const at = results.filter(
    (r) =>
      r.payloadByteSize === 1024 &&
      r.writers === writers &&
      !isEndToEnd(r.system) &&
      !r.system.startsWith("disk-in-flight"),
  );
  // x: percentile on a "nines" scale, so the tail is as wide as the body.
  const nines = (p: number) => -Math.log10(Math.max(1e-4, 1 - p / 100));
  const xMax = nines(99.99);
  const x = (p: number) => (nines(p) / xMax) * PLOT_WIDTH;
  const series = at.map((r) => ({
    name: r.system,
    points: r.cdf.filter(([p]) => p < 100).map(([p, ms]) => [p, ms] as const),
  }));
  return chart({
    title: `Ack latency by percentile, ${writers} writer${writers === 1 ? "" : "s"} (${subtitle})`,
    xLabel: "percentile",
    yLabel: "ack latency, ms (log)",
    series,
    xTicks: [50, 90, 99, 99.9, 99.99],
    xTickLabel: (p) => `p${p}`,
    xScale: x,
  });
}

/**
 * Acked msgs/s through the whole queue (append, take, ack, producers held back by the
 * backlog), one line per system across the producers × consumers shapes of the run.
 */
export function endToEndChart(results: readonly CaseResult[], subtitle: string): string {
  const rows = results.filter((r) => isEndToEnd(r.system));
  const shapeOf = (r: CaseResult) => `${r.writers}×${r.consumers ?? 0}`;
  const shapes = [...new Set(rows.map(shapeOf))];
  const series = [...new Set(rows.map((r) => r.system))].map((name) => ({
    name,
    points: rows
      .filter((r) => r.system === name)
      .map((r) => [shapes.indexOf(shapeOf(r)), r.msgsPerSecond] as const),
  }));
  return chart({
    title: `Acked msgs/s through the whole queue, 1 KiB (${subtitle})`,
    xLabel: "producers × consumers",
    yLabel: "acked msgs/s (log)",
    series,
    xTicks: shapes.map((_, index) => index),
    xTickLabel: (index) => shapes[index] ?? "",
    // Shapes are categories: evenly spaced, each in the middle of its share of the width.
    xScale: (index) => ((index + 0.5) / Math.max(1, shapes.length)) * PLOT_WIDTH,
  });
}

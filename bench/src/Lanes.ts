/**
 * The load of a remote writer case (a worker thread's or a process's share of the writers):
 * `lanes` appends in flight until `stopAt`, latencies recorded from `warmUntil`. Times are wall
 * clock (`Date.now()`): performance.now() has a different origin in every thread and process.
 */
export interface LaneWindow {
  readonly warmUntil: number;
  readonly stopAt: number;
}

export interface LaneReport {
  readonly count: number;
  /** Milliseconds per measured append. */
  readonly latencies: Float64Array;
}

export async function runLanes(
  append: () => Promise<unknown>,
  lanes: number,
  window: LaneWindow,
): Promise<LaneReport> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const lane = async () => {
    for (;;) {
      const started = Date.now();
      if (started >= window.stopAt) return;
      const t0 = performance.now();
      await append();
      if (started < window.warmUntil) continue;
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return { count, latencies: latencies.slice(0, count) };
}

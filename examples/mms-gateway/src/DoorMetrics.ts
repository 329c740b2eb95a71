/**
 * The front door's figures on `/metrics`, read at each scrape: connections open and not yet
 * authenticated, connections closed to keep the caps, and body bytes held by submissions in
 * progress. An operator sees a flood (evictions climbing) before a VASP reports it.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { Admission } from "./Admission.js";
import type { InFlight } from "./InFlight.js";

/**
 * Registers the front door's metrics in `registry`.
 *
 * @example observeFrontDoor(metrics.registry, admission, inFlight)
 */
export function observeFrontDoor(registry: Registry, admission: Admission, inFlight: InFlight) {
  new Gauge({
    name: "mm7_connections",
    help: "MM7 connections open, and those on which no request has passed authentication",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const counts = admission.counts();
      this.set({ state: "open" }, counts.open);
      this.set({ state: "unauthenticated" }, counts.unauthenticated);
    },
  });
  new Counter({
    name: "mm7_connections_closed_total",
    help: "Connections closed to keep the caps: idle strangers evicted, newcomers refused",
    labelNames: ["reason"] as const,
    registers: [registry],
    collect() {
      // Admission counts; the scrape copies its totals.
      const counts = admission.counts();
      this.reset();
      this.inc({ reason: "evicted" }, counts.evicted);
      this.inc({ reason: "refused" }, counts.refused);
    },
  });
  new Gauge({
    name: "mm7_body_bytes_in_flight",
    help: "Body bytes reserved by submissions in progress (bounded by inFlight.bodyBytesMax)",
    registers: [registry],
    collect() {
      this.set(inFlight.bodyBytes);
    },
  });
}

/**
 * `GET /`: a live page of the synchronizer (claim 64's machine) as it runs: its flowchart, drawn
 * from the machine that runs (`diagram/`), with the current state marked and the arrows taken
 * since the last refresh lit; the messages by state (on a stream, how many are not done); the
 * flushes by reason; and the last batches with their flush reasons. Its script refreshes it
 * from `/live.json` twice a second (`LivePageScript.ts`). Nothing is loaded from elsewhere.
 */
import { LIVE_PAGE_SCRIPT } from "./LivePageScript.js";
import { escapeXml } from "./Mm7.js";

const STYLE = `
:root { --ink: #1d2733; --muted: #6a7683; --line: #d5dbe2; --card: #fff; --back: #f1f4f7;
  --current: #0b6bcb; --hot: #e8590c; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: var(--ink); background: var(--back); }
header { display: flex; align-items: baseline; gap: 1em; padding: 12px 20px; background: #1d2733; color: #fff; }
header h1 { font-size: 1.15em; margin: 0; font-weight: 600; }
header .ok { color: #8ce99a; } header .bad { color: #ffa8a8; }
header span { font-size: 0.9em; color: #c3ccd6; }
main { display: grid; grid-template-columns: minmax(560px, auto) minmax(420px, 1fr); gap: 16px; padding: 16px 20px; align-items: start; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
section + section { margin-top: 16px; }
h2 { font-size: 0.8em; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); margin: 0 0 8px; }
.now { display: flex; align-items: baseline; gap: 12px; margin-bottom: 6px; }
#state { font: 600 1.5em ui-monospace, monospace; color: var(--current); }
.muted { color: var(--muted); font-size: 0.9em; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 0.85em; color: var(--muted); margin-top: 6px; }
.legend i { display: inline-block; width: 14px; height: 10px; border-radius: 3px; vertical-align: middle; margin-right: 4px; }
.machine { display: block; margin: 0 auto; max-width: 100%; height: auto; font: 12px ui-monospace, "DejaVu Sans Mono", monospace; }
.machine .shape { fill: #f6f8fa; stroke: #8795a4; stroke-width: 1.2; }
.machine .inner { fill: none; stroke: #8795a4; }
.machine .choice .shape { fill: #fff6dd; stroke: #b59a4a; }
.machine .name { text-anchor: middle; fill: var(--ink); }
.machine .count { text-anchor: middle; font-size: 10px; fill: var(--muted); }
.machine .start { fill: var(--ink); }
.machine .edge { fill: none; stroke: #c4ccd5; stroke-width: 1.2; marker-end: url(#arrow); }
.machine .edge.back { stroke-dasharray: 5 3; }
.machine .edge.taken { stroke: #7d8b99; }
.machine .edge.hot { stroke: var(--hot); stroke-width: 2.2; marker-end: url(#arrow-hot); }
.machine #arrow path { fill: #8d99a6; } .machine #arrow-hot path { fill: var(--hot); }
.machine .node.current .shape { fill: var(--current); stroke: #063f7a; stroke-width: 2.5; }
.machine .node.current .name, .machine .node.current .count { fill: #fff; font-weight: 600; }
.machine .node.current { filter: drop-shadow(0 0 5px rgba(11, 107, 203, 0.7)); }
table { border-collapse: collapse; width: 100%; }
td, th { padding: 3px 8px; border-bottom: 1px solid #edf0f3; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 0.85em; border-bottom-color: var(--line); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: flex; height: 14px; border-radius: 4px; overflow: hidden; background: #edf0f3; margin: 4px 0 10px; }
.bar div { height: 100%; }
.queued { background: #4dabf7; } .leased { background: #20c997; } .retryWait { background: #fab005; } .dead { background: #fa5252; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.reason { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 0.85em; color: #fff; }
#batches tr:first-child td { background: #fff4e6; }
`;

const BODY = `
<header><h1>Spool MMS gateway</h1><span id="status">connecting…</span>
<span id="updated"></span></header>
<main>
<section id="diagram">
<h2>Synchronizer machine (claim 64)</h2>
<div class="now"><span id="state">…</span><span class="muted" id="events"></span></div>
__SVG__
<div class="legend"><span><i style="background: var(--current)"></i>current state</span>
<span><i style="background: var(--hot)"></i>arrows taken since the last refresh</span>
<span><i style="background: #fff6dd; border: 1px solid #b59a4a"></i>choice, left at once</span>
<span>×N: times entered</span><span>dashed: back to an earlier step</span></div>
<p class="muted">__EVERYWHERE__</p>
</section>
<div>
<section id="queue">
<h2>Messages by state</h2>
<div class="bar" id="queue-bar"></div>
<table><tbody id="queue-rows"></tbody></table>
</section>
<section id="flushes">
<h2>Flushes by reason</h2>
<p class="muted" id="flush-summary"></p>
<table><tbody id="flush-reasons"></tbody></table>
</section>
<section id="recent">
<h2>Last batches</h2>
<table><thead><tr><th class="num">batch</th><th class="num">records</th><th class="num">bytes</th>
<th>flush reason</th><th>level</th><th class="num">write ms</th></tr></thead>
<tbody id="batches"></tbody></table>
</section>
</div>
</main>`;

/**
 * The page, around `diagramSvg` (the synchronizer's flowchart, from `machineSvg`); `everywhere`
 * names the events every state takes where it is, which the chart draws no arrow for.
 *
 * @example
 * const page = livePage(machineSvg(graph), graph.everywhere);
 */
export function livePage(diagramSvg: string, everywhere: readonly string[]): string {
  if (typeof diagramSvg !== "string" || !diagramSvg.startsWith("<svg")) {
    throw new TypeError("diagramSvg must be an SVG element");
  }
  if (!Array.isArray(everywhere)) throw new TypeError("everywhere must be an array of events");
  const note =
    everywhere.length === 0
      ? ""
      : `Every state takes ${everywhere.map((event) => `<code>${escapeXml(event)}</code>`).join(", ")} where it is (no arrow drawn).`;
  const body = BODY.replace("__SVG__", () => diagramSvg).replace("__EVERYWHERE__", () => note);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Spool MMS gateway</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head><body>${body}
<script>${LIVE_PAGE_SCRIPT}</script></body></html>
`;
}

/**
 * The live page's script, run in the browser: it fetches `/live.json` twice a second and marks
 * the synchronizer's current state and the arrows taken since the last refresh on the chart,
 * fills the messages by state, the flushes by reason and the last batches. Plain DOM, no
 * library; each refresh bumps `document.body.dataset.refreshes`, so a test can wait for one.
 */

/** How often the page asks for `/live.json`: twice a second, as a person reads it. */
const LIVE_REFRESH_MS = 500;

/** The batches the page lists, newest first: a screenful beside the chart (the spool keeps 32). */
const LIVE_BATCH_ROWS = 12;

/**
 * The script's text, for a `<script>` element of the page (`LivePage.ts`).
 *
 * @example const page = `<body>...<script>${LIVE_PAGE_SCRIPT}</script></body>`;
 */
export const LIVE_PAGE_SCRIPT = `
"use strict";
const byId = (id) => document.getElementById(id);
const format = new Intl.NumberFormat("en");
const QUEUE = [
  ["queued", "queued"], ["leased", "delivering"], ["retryWait", "waiting to retry"], ["dead", "dead"],
];
let arrowsBefore = null;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function reasonTag(reason, reasons) {
  const tag = document.createElement("span");
  tag.className = "reason";
  tag.textContent = reason;
  const hue = (reasons.indexOf(reason) * 47 + 200) % 360;
  tag.style.background = "hsl(" + hue + " 55% 45%)";
  const td = document.createElement("td");
  td.append(tag);
  return td;
}

function showMachine(live) {
  byId("state").textContent = live.state;
  byId("events").textContent = format.format(live.machineEvents) + " events taken since the gateway opened";
  for (const node of document.querySelectorAll(".machine .node")) {
    const state = node.dataset.state;
    node.classList.toggle("current", state === live.state);
    const entered = live.stateEntries[state] ?? 0;
    node.querySelector(".count").textContent = entered === 0 ? "" : "×" + format.format(entered);
  }
  for (const arrow of document.querySelectorAll(".machine .edge")) {
    const key = arrow.dataset.arrow;
    const times = live.arrowCounts[key] ?? 0;
    arrow.classList.toggle("taken", times > 0);
    arrow.classList.toggle("hot", arrowsBefore !== null && times > (arrowsBefore[key] ?? 0));
  }
  arrowsBefore = live.arrowCounts;
}

function showQueue(live) {
  const rows = [];
  const bar = [];
  if (live.messages === null) {
    rows.push(row(cell("not done (the stream's, every gateway's)"), cell(format.format(live.depth), "num")));
  } else {
    const total = QUEUE.reduce((sum, [state]) => sum + live.messages[state], 0);
    for (const [state, label] of QUEUE) {
      const swatch = document.createElement("span");
      swatch.className = "swatch " + state;
      const name = cell("");
      name.append(swatch, label);
      const count = live.messages[state];
      rows.push(row(name, cell(format.format(count), "num")));
      rows.at(-1).dataset.state = state;
      const part = document.createElement("div");
      part.className = state;
      part.style.width = (total === 0 ? 0 : (100 * count) / total) + "%";
      bar.push(part);
    }
    rows.push(row(cell("not done"), cell(format.format(live.depth), "num")));
  }
  rows.push(row(cell("appended since open"), cell(format.format(live.records), "num")));
  rows.push(row(cell("acked (done) since open"), cell(format.format(live.acks), "num")));
  byId("queue-bar").replaceChildren(...bar);
  byId("queue-rows").replaceChildren(...rows);
}

function showBatches(live) {
  const reasons = Object.keys(live.flushReasons);
  byId("flush-summary").textContent = format.format(live.flushes) + " flushes, " +
    live.batchRecordsMean.toFixed(1) + " records a batch on average";
  const counted = reasons.filter((reason) => live.flushReasons[reason] > 0);
  byId("flush-reasons").replaceChildren(...counted.map((reason) =>
    row(reasonTag(reason, reasons), cell(format.format(live.flushReasons[reason]), "num"))));
  const newest = live.recentBatches.slice(-${LIVE_BATCH_ROWS}).reverse();
  byId("batches").replaceChildren(...newest.map((batch) => row(
    cell(format.format(batch.batchId), "num"), cell(format.format(batch.records), "num"),
    cell(format.format(batch.byteSize), "num"), reasonTag(batch.reason, reasons),
    cell(batch.level), cell(batch.writeMs.toFixed(2), "num"))));
}

async function refresh() {
  try {
    const response = await fetch("/live.json", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const live = await response.json();
    showMachine(live);
    showQueue(live);
    showBatches(live);
    byId("status").textContent = "live";
    byId("status").className = "ok";
    byId("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes ?? 0) + 1);
  } catch (error) {
    byId("status").textContent = "gateway unreachable (" + error.message + "), retrying";
    byId("status").className = "bad";
  }
  setTimeout(refresh, ${LIVE_REFRESH_MS});
}
refresh();
`;

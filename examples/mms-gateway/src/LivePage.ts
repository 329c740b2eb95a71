/**
 * `GET /`: a small live page of the synchronizer (claim 64's machine) as it runs: its current
 * state, the messages by state (on a stream, how many are not done), and the last batches with
 * their flush reasons, refreshed from `/live.json` twice a second. No scripts from elsewhere.
 */
export function livePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Spool MMS gateway</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; } table { border-collapse: collapse; } td, th { padding: 2px 10px; }
th { text-align: left; border-bottom: 1px solid #ccc; } .state { font: 1.6em monospace; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
</style></head><body>
<h1>Spool MMS gateway</h1>
<p>Synchronizer machine: <span class="state" id="state">…</span></p>
<p id="messages"></p>
<p id="flushes"></p>
<table><thead><tr><th>batch</th><th class="num">records</th><th class="num">bytes</th>
<th>reason</th><th class="num">write ms</th></tr></thead><tbody id="batches"></tbody></table>
<script>
const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; };
async function refresh() {
  try {
    const live = await (await fetch("/live.json")).json();
    document.getElementById("state").textContent = live.state;
    const m = live.messages;
    document.getElementById("messages").textContent = m === null
      ? "Messages: " + live.depth + " not done (the stream's, every gateway's)"
      : "Messages: " + m.queued + " queued, " + m.leased + " delivering, " + m.retryWait + " retrying, " + m.dead + " dead";
    document.getElementById("flushes").textContent =
      "Flushes: " + live.flushes + ", mean batch " + live.batchRecordsMean + " records";
    const rows = live.recentBatches.slice().reverse().map((b) => {
      const tr = document.createElement("tr");
      tr.append(cell(b.batchId), cell(b.records, "num"), cell(b.byteSize, "num"), cell(b.reason), cell(b.writeMs.toFixed(2), "num"));
      return tr;
    });
    document.getElementById("batches").replaceChildren(...rows);
  } catch {}
  setTimeout(refresh, 500);
}
refresh();
</script></body></html>
`;
}

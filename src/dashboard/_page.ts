/**
 * The dashboard's page and style sheet, as strings so that JSR and npm ship
 * them with the code. The page holds no data: `dashboard.js` fills it in
 * with `textContent`, so no value from a job is ever parsed as HTML.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jobq dashboard</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>jobq</h1>
  <span id="location" class="muted"></span>
  <span id="read-only" class="badge" hidden>read-only</span>
  <span id="status" class="muted status"></span>
</header>
<main>
  <section class="cards" aria-label="Jobs per state">
    <button class="card" data-state="NOT_STARTED"><span class="label">Waiting</span><span class="value" data-count="NOT_STARTED">–</span></button>
    <button class="card" data-state="IN_PROGRESS"><span class="label">Running</span><span class="value" data-count="IN_PROGRESS">–</span></button>
    <button class="card" data-state="COMPLETED"><span class="label">Completed (kept)</span><span class="value" data-count="COMPLETED">–</span></button>
    <button class="card" data-state="FAILED"><span class="label">Failed</span><span class="value" data-count="FAILED">–</span></button>
    <button class="card" data-state=""><span class="label">All jobs</span><span class="value" data-count="total">–</span></button>
  </section>
  <section class="charts">
    <figure><figcaption>Waiting jobs, last hour</figcaption><svg id="depth-chart" viewBox="0 0 480 140" role="img" aria-label="Waiting jobs per minute"></svg></figure>
    <figure><figcaption>Per minute: <span class="key completed">completed</span> <span class="key failed">failed</span></figcaption><svg id="throughput-chart" viewBox="0 0 480 140" role="img" aria-label="Completed and failed jobs per minute"></svg></figure>
  </section>
  <section class="columns">
    <div class="panel">
      <h2>Methods</h2>
      <table id="methods"><thead><tr><th>Method</th><th class="num">Waiting</th><th class="num">Running</th><th class="num">Completed</th><th class="num">Failed</th><th class="num">Total</th><th></th></tr></thead><tbody></tbody></table>
    </div>
    <div class="panel">
      <h2>Next due</h2><ol id="next-due" class="jobs-mini"></ol>
      <h2>Oldest waiting</h2><ol id="oldest-waiting" class="jobs-mini"></ol>
      <h2>Engines</h2><ul id="engines" class="jobs-mini"></ul>
    </div>
  </section>
  <section class="panel">
    <div class="toolbar">
      <h2>Jobs</h2>
      <label>State <select id="filter-state"><option value="">any</option><option value="NOT_STARTED">NOT_STARTED</option><option value="IN_PROGRESS">IN_PROGRESS</option><option value="COMPLETED">COMPLETED</option><option value="FAILED">FAILED</option></select></label>
      <label>Method <select id="filter-method"><option value="">any</option></select></label>
      <span class="spacer"></span>
      <span class="actions">
        <button id="retry-failed" class="action">Retry failed</button>
        <label>Remove failed older than <input id="older-than" value="7d" size="5" aria-label="age"></label>
        <button id="remove-failed" class="action danger">Remove</button>
      </span>
    </div>
    <p id="message" role="status" hidden></p>
    <table id="jobs"><thead><tr><th>Due</th><th>Method</th><th>State</th><th class="num">Attempts</th><th>Error</th><th>ID</th><th></th></tr></thead><tbody></tbody></table>
    <div class="pager"><button id="previous">‹ Previous</button><span id="range" class="muted"></span><button id="next">Next ›</button></div>
  </section>
  <section id="detail" class="panel" hidden>
    <div class="toolbar"><h2>Job <span id="detail-id"></span></h2><span class="spacer"></span><button id="detail-close">Close</button></div>
    <pre id="detail-error" class="error-text" hidden></pre>
    <pre id="detail-record"></pre>
  </section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `:root {
  --bg: #f6f7f9; --panel: #fff; --text: #1d2330; --muted: #6a7282; --line: #e3e6eb;
  --waiting: #2f6fdb; --running: #c98a00; --completed: #1f9d55; --failed: #d23c3c;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
header { display: flex; align-items: baseline; gap: 12px; padding: 12px 24px;
  background: #1d2330; color: #fff; }
header h1 { margin: 0; font-size: 18px; letter-spacing: .5px; }
header .muted { color: #aab2c0; }
.status { margin-left: auto; font-size: 12px; }
.badge { background: #c98a00; color: #fff; border-radius: 4px; padding: 0 6px; font-size: 12px; }
main { padding: 16px 24px; display: grid; gap: 16px; max-width: 1400px; }
.muted { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; }
.card { text-align: left; border: 1px solid var(--line); background: var(--panel);
  border-radius: 8px; padding: 10px 14px; cursor: pointer; font: inherit; color: inherit;
  border-top: 4px solid var(--muted); }
.card[data-state="NOT_STARTED"] { border-top-color: var(--waiting); }
.card[data-state="IN_PROGRESS"] { border-top-color: var(--running); }
.card[data-state="COMPLETED"] { border-top-color: var(--completed); }
.card[data-state="FAILED"] { border-top-color: var(--failed); }
.card.selected { outline: 2px solid var(--text); }
.card .label { display: block; color: var(--muted); font-size: 12px; }
.card .value { display: block; font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
figure { margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px; }
figcaption { font-size: 12px; color: var(--muted); margin-bottom: 4px; }
svg { width: 100%; height: auto; display: block; }
svg text { font-size: 10px; fill: var(--muted); }
svg .grid { stroke: var(--line); }
svg .depth { fill: none; stroke: var(--waiting); stroke-width: 2; }
svg .depth-area { fill: var(--waiting); opacity: .12; }
svg .completed, .key.completed { fill: var(--completed); color: var(--completed); }
svg .failed, .key.failed { fill: var(--failed); color: var(--failed); }
.key { font-weight: 600; }
.columns { display: grid; grid-template-columns: 3fr 2fr; gap: 12px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 14px; overflow-x: auto; }
h2 { font-size: 13px; margin: 4px 0 8px; text-transform: uppercase; letter-spacing: .6px;
  color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.error { max-width: 320px; overflow: hidden; text-overflow: ellipsis; color: var(--failed); }
td.id { font-family: ui-monospace, monospace; font-size: 12px; color: var(--muted); }
#jobs tbody tr { cursor: pointer; }
#jobs tbody tr:hover { background: #f0f3f8; }
.state { font-size: 11px; font-weight: 600; padding: 1px 6px; border-radius: 4px; color: #fff; }
.state.NOT_STARTED { background: var(--waiting); }
.state.IN_PROGRESS { background: var(--running); }
.state.COMPLETED { background: var(--completed); }
.state.FAILED { background: var(--failed); }
.jobs-mini { margin: 0 0 12px; padding-left: 18px; }
.jobs-mini li { margin: 2px 0; overflow-wrap: anywhere; }
.toolbar { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; margin-bottom: 8px; }
.toolbar h2 { margin: 0; }
.spacer { flex: 1; }
button, select, input { font: inherit; }
button { border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 3px 10px;
  cursor: pointer; }
button:hover { background: #f0f3f8; }
button.danger { color: var(--failed); }
button:disabled { opacity: .5; cursor: default; }
.pager { display: flex; gap: 12px; align-items: center; justify-content: flex-end; margin-top: 8px; }
#message { margin: 4px 0 8px; padding: 6px 10px; border-radius: 6px; background: #eef4ff; }
#message.error { background: #fdecec; color: var(--failed); }
pre { background: #f6f7f9; border-radius: 6px; padding: 10px; overflow: auto; max-height: 480px;
  font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.error-text { color: var(--failed); }
.read-only .actions, .read-only .row-action { display: none; }
@media (max-width: 900px) {
  .cards { grid-template-columns: repeat(2, 1fr); }
  .charts, .columns { grid-template-columns: 1fr; }
}
`;

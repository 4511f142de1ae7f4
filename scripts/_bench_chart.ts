/**
 * The benchmark's chart, as a self-contained SVG: jobq's throughput and its
 * start-up time against the number of jobs waiting in the directory, one
 * line per runtime.
 *
 * @module
 */

/** One runtime's figures, one value per entry of {@linkcode ChartData.backlogs}. */
export interface ChartSeries {
  /** For example `"Deno 2.9.6"`. */
  label: string;
  color: string;
  /** W1/W5 processing at concurrency 8, in jobs/s. */
  process: (number | null)[];
  /** W1/W5 enqueue one by one, in jobs/s. */
  enqueue: (number | null)[];
  /** W4: `new JobQueue` → `start()` → a new job has run, in ms. */
  startup: (number | null)[];
}

/** What the chart shows. */
export interface ChartData {
  title: string;
  /** A line under the title: machine, mode, rounds. */
  subtitle: string;
  /** The numbers of pending jobs measured, the x axis of both panels. */
  backlogs: number[];
  series: ChartSeries[];
  /** A horizontal line on the start-up panel, in ms. */
  startupTarget?: number;
}

const WIDTH = 980;
const HEIGHT = 470;
const PANEL = { top: 110, height: 280, width: 380 };
const LEFT_X = 80;
const RIGHT_X = 570;
const FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** 0, 1k, 10k, 100k, 2.5k. */
export function shortCount(n: number): string {
  if (n >= 1_000_000) return `${trim(n / 1_000_000)}M`;
  if (n >= 1000) return `${trim(n / 1000)}k`;
  return String(n);
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function formatRate(n: number): string {
  return n >= 10_000 ? `${trim(n / 1000)}k` : Math.round(n).toLocaleString("en-US");
}

function formatMs(ms: number): string {
  if (ms >= 1000) return `${trim(Math.round(ms / 100) / 10)} s`;
  return `${Math.round(ms)} ms`;
}

/** Round tick steps (1, 2, 2.5, 5 × 10^k) giving about `count` ticks up to `max`. */
function linearTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step * 0.999; t += step) ticks.push(t);
  return ticks;
}

/** 1, 2, 5 × 10^k ticks from below the smallest value to above the largest, for a log axis. */
function logTicks(values: number[]): number[] {
  const finite = values.filter((v) => v > 0);
  const min = Math.min(...finite);
  const max = Math.max(...finite) * 1.25;
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); ticks.length === 0 || ticks.at(-1)! < max; e++) {
    for (const m of [1, 2, 5]) {
      const tick = m * 10 ** e;
      if (tick * 2.5 > min && (ticks.length === 0 || ticks.at(-1)! < max)) ticks.push(tick);
    }
  }
  return ticks;
}

interface Axis {
  x(index: number): number;
  y(value: number): number;
}

function xAxis(x0: number, backlogs: number[]): (index: number) => number {
  const pad = 55;
  const span = PANEL.width - 2 * pad;
  return (index) =>
    backlogs.length === 1
      ? x0 + PANEL.width / 2
      : x0 + pad + (span * index) / (backlogs.length - 1);
}

/** A polyline through the defined points (broken at missing ones) and a marker at each. */
function line(
  axis: Axis,
  values: (number | null)[],
  color: string,
  dashed: boolean,
): string {
  const parts: string[] = [];
  let run: string[] = [];
  const flush = () => {
    if (run.length > 1) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2.5"${
          dashed ? ' stroke-dasharray="7 5"' : ""
        } points="${run.join(" ")}"/>`,
      );
    }
    run = [];
  };
  values.forEach((value, index) => {
    if (value === null || !Number.isFinite(value)) return flush();
    const x = axis.x(index).toFixed(1);
    const y = axis.y(value).toFixed(1);
    run.push(`${x},${y}`);
    parts.push(
      dashed
        ? `<rect x="${Number(x) - 4}" y="${
          Number(y) - 4
        }" width="8" height="8" fill="white" stroke="${color}" stroke-width="2"/>`
        : `<circle cx="${x}" cy="${y}" r="4.5" fill="${color}"/>`,
    );
  });
  flush();
  return parts.join("\n");
}

/**
 * Labels for the points at one x, moved apart vertically (top to bottom) so
 * that none overlaps another.
 */
function labels(
  points: { value: number | null | undefined; color: string }[],
  axis: Axis,
  index: number,
  format: (v: number) => string,
  side: "left" | "right",
): string {
  const placed = points
    .filter((p): p is { value: number; color: string } =>
      typeof p.value === "number" && Number.isFinite(p.value)
    )
    .map((p) => ({ ...p, y: axis.y(p.value) + 4 }))
    .sort((a, b) => a.y - b.y);
  for (let i = 1; i < placed.length; i++) {
    placed[i]!.y = Math.max(placed[i]!.y, placed[i - 1]!.y + 13);
  }
  const x = axis.x(index) + (side === "right" ? 10 : -10);
  const anchor = side === "right" ? "start" : "end";
  return placed.map((p) =>
    `<text x="${x.toFixed(1)}" y="${
      p.y.toFixed(1)
    }" text-anchor="${anchor}" font-size="11" fill="${p.color}">${escape(format(p.value))}</text>`
  ).join("\n");
}

function frame(
  x0: number,
  title: string,
  yLabel: string,
  backlogs: number[],
  ticks: number[],
  y: (v: number) => number,
  tickLabel: (v: number) => string,
): string {
  const x = xAxis(x0, backlogs);
  const bottom = PANEL.top + PANEL.height;
  const parts = [
    `<text x="${x0}" y="${PANEL.top - 16}" font-size="15" font-weight="600" fill="#222">${
      escape(title)
    }</text>`,
    `<rect x="${x0}" y="${PANEL.top}" width="${PANEL.width}" height="${PANEL.height}" fill="#fafafa" stroke="#ccc"/>`,
  ];
  for (const tick of ticks) {
    const ty = y(tick).toFixed(1);
    parts.push(
      `<line x1="${x0}" x2="${x0 + PANEL.width}" y1="${ty}" y2="${ty}" stroke="#e3e3e3"/>`,
      `<text x="${x0 - 8}" y="${Number(ty) + 4}" text-anchor="end" font-size="11" fill="#555">${
        escape(tickLabel(tick))
      }</text>`,
    );
  }
  backlogs.forEach((backlog, index) => {
    parts.push(
      `<text x="${x(index).toFixed(1)}" y="${
        bottom + 18
      }" text-anchor="middle" font-size="12" fill="#333">${shortCount(backlog)}</text>`,
    );
  });
  parts.push(
    `<text x="${x0 + PANEL.width / 2}" y="${
      bottom + 40
    }" text-anchor="middle" font-size="12" fill="#333">jobs due later already in the directory</text>`,
    `<text transform="translate(${x0 - 58},${
      PANEL.top + PANEL.height / 2
    }) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">${escape(yLabel)}</text>`,
  );
  return parts.join("\n");
}

function legend(series: ChartSeries[]): string {
  const parts: string[] = [];
  let x = LEFT_X;
  const y = 66;
  for (const s of series) {
    parts.push(
      `<circle cx="${x + 6}" cy="${y - 4}" r="5" fill="${s.color}"/>`,
      `<text x="${x + 16}" y="${y}" font-size="12" fill="#222">jobq on ${escape(s.label)}</text>`,
    );
    x += 40 + 7 * s.label.length + 50;
  }
  x += 20;
  parts.push(
    `<line x1="${x}" x2="${x + 28}" y1="${y - 4}" y2="${y - 4}" stroke="#444" stroke-width="2.5"/>`,
    `<text x="${x + 34}" y="${y}" font-size="12" fill="#222">process, concurrency 8</text>`,
  );
  x += 180;
  parts.push(
    `<line x1="${x}" x2="${x + 28}" y1="${y - 4}" y2="${
      y - 4
    }" stroke="#444" stroke-width="2.5" stroke-dasharray="7 5"/>`,
    `<text x="${x + 34}" y="${y}" font-size="12" fill="#222">enqueue one by one</text>`,
  );
  return parts.join("\n");
}

/** Renders the chart as an SVG document. */
export function renderChart(data: ChartData): string {
  const { backlogs, series } = data;
  const bottom = PANEL.top + PANEL.height;

  const rates = series.flatMap((s) => [...s.process, ...s.enqueue]).filter((v): v is number =>
    v !== null && Number.isFinite(v)
  );
  const rateTicks = linearTicks(Math.max(...rates, 1) * 1.08);
  const rateMax = rateTicks.at(-1)!;
  const left: Axis = {
    x: xAxis(LEFT_X, backlogs),
    y: (v) => bottom - (PANEL.height * v) / rateMax,
  };

  const startups = series.flatMap((s) => s.startup).filter((v): v is number => v !== null && v > 0);
  const msTicks = logTicks([...startups, data.startupTarget ?? 1000]);
  const [lo, hi] = [Math.log10(msTicks[0]!), Math.log10(msTicks.at(-1)!)];
  const right: Axis = {
    x: xAxis(RIGHT_X, backlogs),
    y: (v) => bottom - (PANEL.height * (Math.log10(v) - lo)) / (hi - lo || 1),
  };

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ${FONT}>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${LEFT_X}" y="28" font-size="18" font-weight="700" fill="#111">${
      escape(data.title)
    }</text>`,
    `<text x="${LEFT_X}" y="46" font-size="12" fill="#555">${escape(data.subtitle)}</text>`,
    legend(series),
    frame(
      LEFT_X,
      "Throughput (W1, W5)",
      "jobs per second",
      backlogs,
      rateTicks,
      left.y,
      (v) => v.toLocaleString("en-US"),
    ),
    frame(
      RIGHT_X,
      "Start-up until a new job has run (W4)",
      "milliseconds (log scale)",
      backlogs,
      msTicks,
      right.y,
      (v) => (v >= 1000 ? `${v / 1000} s` : v >= 1 ? `${v} ms` : `${v.toPrecision(1)} ms`),
    ),
  ];
  if (data.startupTarget !== undefined) {
    const ty = right.y(data.startupTarget).toFixed(1);
    parts.push(
      `<line x1="${RIGHT_X}" x2="${
        RIGHT_X + PANEL.width
      }" y1="${ty}" y2="${ty}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="3 4"/>`,
      `<text x="${RIGHT_X + PANEL.width - 6}" y="${
        Number(ty) - 6
      }" text-anchor="end" font-size="11" fill="#c0392b">target ${
        formatMs(data.startupTarget)
      }</text>`,
    );
  }
  series.forEach((s) => {
    parts.push(line(left, s.process, s.color, false));
    parts.push(line(left, s.enqueue, s.color, true));
    parts.push(line(right, s.startup, s.color, false));
  });
  // Values: every start-up point, beside it; the last throughput points, right of them.
  backlogs.forEach((_, index) => {
    parts.push(labels(
      series.map((s) => ({ value: s.startup[index], color: s.color })),
      right,
      index,
      formatMs,
      index === 0 ? "left" : "right",
    ));
  });
  const last = backlogs.length - 1;
  parts.push(labels(
    series.flatMap((s) => [
      { value: s.process[last], color: s.color },
      { value: s.enqueue[last], color: s.color },
    ]),
    left,
    last,
    formatRate,
    "right",
  ));
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

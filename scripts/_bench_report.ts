/**
 * The benchmark's tables, as Markdown: the figures (rows = measurements,
 * columns = systems), their ratios to the file-system probe and to
 * plainjob, and the targets with pass or fail.
 *
 * @module
 */

/** A column of the table. */
export interface Column {
  /** `jobq-deno`, `denokv`, … */
  id: string;
  label: string;
  /** The jobq column whose file-system probe is this column's limit (same runtime). */
  probeColumn: string | undefined;
  /** Jobq columns get the targets. */
  isJobq: boolean;
  /** Shown in every cell of a measurement this system has none of (for example "not present"). */
  absent?: string;
}

/** Median figures by column id, then `<measurement>.<metric>`. */
export type Medians = Record<string, Record<string, number | null | undefined>>;

/** Each round's figure (`null` where it failed), by column id, then `<measurement>.<metric>`. */
export type PerRound = Record<string, Record<string, (number | null)[]>>;

/** What the table needs to know of the run. */
export interface ReportInput {
  columns: Column[];
  medians: Medians;
  perRound: PerRound;
  /** W1's job count, with fsync off and on. */
  jobs: number;
  fsyncJobs: number;
  w2Rate: number;
  w2Seconds: number;
  w3Jobs: number;
  /** The backlog of the W4 and W5 rows (100,000 in full mode). */
  backlog: number;
  /** The backlog the targets of W4 speak of. */
  targetBacklog: number;
}

type Unit = "rate" | "ms" | "us" | "mb" | "count" | "ratio";

interface Row {
  label: string;
  unit: Unit;
  value(column: Column): number | null | undefined;
}

interface Section {
  title: string;
  rows: Row[];
}

/** A table row with the text of each cell. */
export interface TableRow {
  label: string;
  cells: string[];
}

const count = (n: number) => n.toLocaleString("en-US");

/** Formats a figure for the table. */
export function formatValue(value: number | null | undefined, unit: Unit): string {
  if (value === undefined) return "—";
  if (value === null || !Number.isFinite(value)) return "n/a";
  switch (unit) {
    case "rate":
      return value >= 100 ? count(Math.round(value)) : value.toFixed(1);
    case "ms":
      return value < 10
        ? value.toFixed(2)
        : value < 100
        ? value.toFixed(1)
        : count(Math.round(value));
    case "us":
      return value < 100 ? value.toFixed(1) : count(Math.round(value));
    case "mb":
      return value.toFixed(1);
    case "count":
      return count(Math.round(value));
    case "ratio":
      return `${value.toFixed(2)}×`;
  }
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * `a ÷ b`, as the median of the ratios of the rounds: figures of one round
 * ran minutes apart at most, so a slow spell of the machine hits both.
 * `undefined` when a column does not have the figure at all.
 */
function pairedRatio(
  perRound: PerRound,
  a: [string | undefined, string],
  b: [string | undefined, string],
): number | null | undefined {
  const as = a[0] === undefined ? undefined : perRound[a[0]]?.[a[1]];
  const bs = b[0] === undefined ? undefined : perRound[b[0]]?.[b[1]];
  if (as === undefined || bs === undefined) return undefined;
  const ratios: number[] = [];
  as.forEach((x, round) => {
    const y = bs[round];
    if (typeof x === "number" && typeof y === "number" && y !== 0) ratios.push(x / y);
  });
  return median(ratios);
}

/** The sections of the figures table. */
function sections(input: ReportInput): Section[] {
  const { medians } = input;
  const get = (column: string | undefined, key: string) =>
    column === undefined ? undefined : medians[column]?.[key];
  const ratio = (a: [string | undefined, string], b: [string | undefined, string]) =>
    pairedRatio(input.perRound, a, b);
  const own = (key: string, unit: Unit, label: string, jobqOnly = false): Row => ({
    label,
    unit,
    value: (column) => (jobqOnly && !column.isJobq ? undefined : get(column.id, key)),
  });
  const probe = (key: string, label: string): Row => ({
    label,
    unit: "rate",
    value: (column) => (column.isJobq ? get(column.id, key) : undefined),
  });
  const toProbe = (key: string, probeKey: string, label: string): Row => ({
    label,
    unit: "ratio",
    value: (column) => ratio([column.id, key], [column.probeColumn, probeKey]),
  });
  const b = count(input.backlog);
  return [
    {
      title: "File-system probe: write ~200 bytes to a temp name + rename, then unlink (files/s)",
      rows: [
        probe("probe.seq.create", "create, one at a time"),
        probe("probe.par8.create", "create, 8 in flight"),
        probe("probe.seq.unlink", "unlink, one at a time"),
        probe("probe.par8.unlink", "unlink, 8 in flight"),
        probe("probe.fsync.seq.create", "create + fsync (file, directory), one at a time"),
        probe("probe.fsync.par8.create", "create + fsync (file, directory), 8 in flight"),
      ],
    },
    {
      title: `W1: ${count(input.jobs)} immediate jobs, no-op handler, fsync off (jobs/s)`,
      rows: [
        own("w1.seq.enqueue", "rate", "enqueue one by one (awaited)"),
        own("w1.bulk.enqueue", "rate", "enqueue in bulk"),
        own("w1.seq.process", "rate", "process, concurrency 8"),
      ],
    },
    {
      title: `W1 with fsync: ${count(input.fsyncJobs)} jobs (jobs/s)`,
      rows: [
        own("w1.fsync.seq.enqueue", "rate", "enqueue one by one (awaited)"),
        own("w1.fsync.bulk.enqueue", "rate", "enqueue in bulk"),
        own("w1.fsync.seq.process", "rate", "process, concurrency 8"),
      ],
    },
    {
      title: `W2: enqueue → handler start at ${input.w2Rate} jobs/s for ${input.w2Seconds} s (ms)`,
      rows: [
        own("w2.p50", "ms", "p50"),
        own("w2.p95", "ms", "p95"),
        own("w2.p99", "ms", "p99"),
      ],
    },
    {
      title: `W3: lateness of ${input.w3Jobs} jobs delayed 200–1,000 ms (ms)`,
      rows: [
        own("w3.p50", "ms", "p50"),
        own("w3.p99", "ms", "p99"),
        own("w3.early", "count", "early starts (count)"),
      ],
    },
    {
      title: "W4: new JobQueue + start() until a newly scheduled job has run, fresh process",
      rows: [
        own(`w4.${input.backlog}.startupMs`, "ms", `with ${b} jobs due in a day (ms)`, true),
        own(`w4.${input.backlog}.rssMB`, "mb", `RSS then (MB)`, true),
        own("w4.0.startupMs", "ms", "empty directory (ms)", true),
        own("w4.0.rssMB", "mb", "RSS then (MB)", true),
      ],
    },
    {
      title: `W5: W1 with ${b} jobs due in a day in the directory (jobs/s)`,
      rows: [
        own(`w5.${input.backlog}.enqueue`, "rate", "enqueue one by one (awaited)", true),
        own(`w5.${input.backlog}.process`, "rate", "process, concurrency 8", true),
        own(`w5.${input.backlog}.loadMs`, "ms", `loading the ${b} jobs first (ms)`, true),
      ],
    },
    {
      title: "Ratios",
      rows: [
        toProbe(
          "w1.seq.enqueue",
          "probe.seq.create",
          "W1 enqueue one by one ÷ probe create one at a time",
        ),
        toProbe(
          "w1.bulk.enqueue",
          "probe.par8.create",
          "W1 bulk enqueue ÷ probe create 8 in flight",
        ),
        toProbe(
          "w1.fsync.seq.enqueue",
          "probe.fsync.seq.create",
          "fsync: enqueue one by one ÷ probe create one at a time",
        ),
        toProbe(
          "w1.fsync.bulk.enqueue",
          "probe.fsync.par8.create",
          "fsync: bulk enqueue ÷ probe create 8 in flight",
        ),
        {
          label: "W1 processing ÷ plainjob's",
          unit: "ratio",
          value: (column) =>
            column.id === "plainjob"
              ? undefined
              : ratio([column.id, "w1.seq.process"], ["plainjob", "w1.seq.process"]),
        },
        {
          label: "W5 ÷ W1, processing",
          unit: "ratio",
          value: (column) =>
            column.isJobq
              ? ratio([column.id, `w5.${input.backlog}.process`], [column.id, "w1.seq.process"])
              : undefined,
        },
        {
          label: "W5 ÷ W1, enqueue one by one",
          unit: "ratio",
          value: (column) =>
            column.isJobq
              ? ratio([column.id, `w5.${input.backlog}.enqueue`], [column.id, "w1.seq.enqueue"])
              : undefined,
        },
      ],
    },
  ];
}

interface Target {
  label: string;
  /** The measured value, and whether it meets the target. */
  check(column: Column): { value: number | null | undefined; pass: boolean } | undefined;
  unit: Unit;
}

function targets(input: ReportInput): Target[] {
  const { medians } = input;
  const get = (column: string | undefined, key: string) =>
    column === undefined ? undefined : medians[column]?.[key];
  const ratio = (a: [string | undefined, string], b: [string | undefined, string]) =>
    pairedRatio(input.perRound, a, b);
  const atLeast = (value: number | null | undefined, min: number) => ({
    value,
    pass: typeof value === "number" && value >= min,
  });
  const atMost = (value: number | null | undefined, max: number) => ({
    value,
    pass: typeof value === "number" && value <= max,
  });
  const vsProbe = (key: string, probeKey: string, label: string): Target => ({
    label,
    unit: "ratio",
    check: (column) => atLeast(ratio([column.id, key], [column.id, probeKey]), 0.8),
  });
  const quick = input.backlog === input.targetBacklog
    ? ""
    : ` (here ${count(input.backlog)} jobs, not ${count(input.targetBacklog)})`;
  return [
    vsProbe(
      "w1.seq.enqueue",
      "probe.seq.create",
      "W1 enqueue one by one ≥ 0.8× probe create one at a time",
    ),
    vsProbe(
      "w1.bulk.enqueue",
      "probe.par8.create",
      "W1 bulk enqueue ≥ 0.8× probe create 8 in flight",
    ),
    vsProbe(
      "w1.fsync.seq.enqueue",
      "probe.fsync.seq.create",
      "fsync: enqueue one by one ≥ 0.8× probe create one at a time",
    ),
    vsProbe(
      "w1.fsync.bulk.enqueue",
      "probe.fsync.par8.create",
      "fsync: bulk enqueue ≥ 0.8× probe create 8 in flight",
    ),
    {
      label: "W1 processing ≥ 1.2× plainjob's",
      unit: "ratio",
      check: (column) =>
        atLeast(ratio([column.id, "w1.seq.process"], ["plainjob", "w1.seq.process"]), 1.2),
    },
    { label: "W2 p99 ≤ 5 ms", unit: "ms", check: (column) => atMost(get(column.id, "w2.p99"), 5) },
    { label: "W3 p99 ≤ 5 ms", unit: "ms", check: (column) => atMost(get(column.id, "w3.p99"), 5) },
    {
      label: "W3: no early start",
      unit: "count",
      check: (column) => atMost(get(column.id, "w3.early"), 0),
    },
    {
      label: `W4 ≤ 1 s${quick}`,
      unit: "ms",
      check: (column) => atMost(get(column.id, `w4.${input.backlog}.startupMs`), 1000),
    },
    {
      label: `W4 RSS ≤ 120 MB${quick}`,
      unit: "mb",
      check: (column) => atMost(get(column.id, `w4.${input.backlog}.rssMB`), 120),
    },
    {
      label: "W5 ≥ 0.8× W1, processing",
      unit: "ratio",
      check: (column) =>
        atLeast(
          ratio([column.id, `w5.${input.backlog}.process`], [column.id, "w1.seq.process"]),
          0.8,
        ),
    },
    {
      label: "W5 ≥ 0.8× W1, enqueue one by one",
      unit: "ratio",
      check: (column) =>
        atLeast(
          ratio([column.id, `w5.${input.backlog}.enqueue`], [column.id, "w1.seq.enqueue"]),
          0.8,
        ),
    },
  ];
}

function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[], align: boolean) =>
    `| ${
      cells.map((cell, i) =>
        i === 0 || !align ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)
      ).join(" | ")
    } |`;
  const rule = `|${
    widths.map((w, i) => (i === 0 ? `-${"-".repeat(w)}-` : `${"-".repeat(w + 1)}:`)).join("|")
  }|`;
  return [line(header, false), rule, ...rows.map((row) => line(row, true))].join("\n");
}

/** The figures table: one Markdown table, sections as bold rows. */
export function figuresTable(input: ReportInput): { markdown: string; rows: TableRow[] } {
  const rows: TableRow[] = [];
  const lines: string[][] = [];
  for (const section of sections(input)) {
    lines.push([`**${section.title}**`, ...input.columns.map(() => "")]);
    for (const row of section.rows) {
      const cells = input.columns.map((column) => {
        const value = row.value(column);
        if (value === undefined && column.absent !== undefined && section.title.startsWith("W1")) {
          return column.absent;
        }
        return formatValue(value, row.unit);
      });
      rows.push({ label: `${section.title} / ${row.label}`, cells });
      lines.push([row.label, ...cells]);
    }
  }
  return {
    markdown: markdownTable(["", ...input.columns.map((column) => column.label)], lines),
    rows,
  };
}

/** A target's outcome in one column. */
export interface TargetOutcome {
  target: string;
  column: string;
  value: number | null;
  pass: boolean;
}

/** The targets table: one row per target, one column per jobq runtime. */
export function targetsTable(input: ReportInput): { markdown: string; outcomes: TargetOutcome[] } {
  const columns = input.columns.filter((column) => column.isJobq);
  const outcomes: TargetOutcome[] = [];
  const lines = targets(input).map((target) => [
    target.label,
    ...columns.map((column) => {
      const outcome = target.check(column);
      if (outcome === undefined || outcome.value === undefined) return "—";
      outcomes.push({
        target: target.label,
        column: column.id,
        value: outcome.value,
        pass: outcome.pass,
      });
      if (outcome.value === null) return "n/a";
      return `${formatValue(outcome.value, target.unit)} ${outcome.pass ? "pass" : "**FAIL**"}`;
    }),
  ]);
  return {
    markdown: markdownTable(["target", ...columns.map((column) => column.label)], lines),
    outcomes,
  };
}

// ---------------------------------------------------------------------------
// PostgreSQL: jobq's PostgresJobStore against pg-boss and graphile-worker

/** What the PostgreSQL tables need to know of the run. */
export interface PostgresReportInput {
  /** jobq's columns first, then the peers'. */
  columns: Column[];
  medians: Medians;
  perRound: PerRound;
  jobs: number;
  backlog: number;
  w2Rate: number;
  w2Seconds: number;
}

/**
 * Per round, the best (highest) figure of the peer columns; `undefined`
 * when no peer has it.
 */
function bestOfPeers(input: PostgresReportInput, key: string): (number | null)[] | undefined {
  const peers = input.columns.filter((column) => !column.isJobq)
    .map((column) => input.perRound[column.id]?.[key])
    .filter((values): values is (number | null)[] => values !== undefined);
  if (peers.length === 0) return undefined;
  const rounds = Math.max(...peers.map((values) => values.length));
  return Array.from({ length: rounds }, (_, round) => {
    const figures = peers.map((values) => values[round]).filter((v): v is number =>
      typeof v === "number"
    );
    return figures.length === 0 ? null : Math.max(...figures);
  });
}

/** The median of the rounds' `a ÷ b`. */
function roundRatio(
  as: (number | null)[] | undefined,
  bs: (number | null)[] | undefined,
): number | null | undefined {
  if (as === undefined || bs === undefined) return undefined;
  const ratios: number[] = [];
  as.forEach((x, round) => {
    const y = bs[round];
    if (typeof x === "number" && typeof y === "number" && y !== 0) ratios.push(x / y);
  });
  return median(ratios);
}

/** The PostgreSQL figures and targets, as Markdown tables. */
export function postgresTables(input: PostgresReportInput): {
  figures: { markdown: string; rows: TableRow[] };
  targets: { markdown: string; outcomes: TargetOutcome[] };
} {
  const get = (column: Column, key: string) => input.medians[column.id]?.[key];
  const own = (key: string, unit: Unit, label: string): Row => ({
    label,
    unit,
    value: (column) => get(column, key),
  });
  const perJob = (key: string, label: string): Row => ({
    label,
    unit: "us",
    value: (column) => {
      const rate = get(column, key);
      return typeof rate === "number" && rate > 0 ? 1e6 / rate : rate;
    },
  });
  const backlogVsEmpty = (metric: string): Row => ({
    label: `W5 ÷ W1, ${metric === "enqueue" ? "enqueue one by one" : "processing"}`,
    unit: "ratio",
    value: (column) =>
      roundRatio(
        input.perRound[column.id]?.[`pg.w5.${metric}`],
        input.perRound[column.id]?.[`pg.w1.seq.${metric}`],
      ),
  });
  const b = count(input.backlog);
  const list: Section[] = [
    {
      title: `W1: ${count(input.jobs)} immediate jobs, no-op handler (jobs/s)`,
      rows: [
        own("pg.w1.seq.enqueue", "rate", "enqueue one by one (awaited)"),
        own("pg.w1.bulk.enqueue", "rate", "enqueue in bulk (one call)"),
        own("pg.w1.seq.process", "rate", "process, concurrency 8"),
        own("pg.w1.seq.connections", "count", "connections held after processing"),
      ],
    },
    {
      title: `W2: enqueue → handler start at ${input.w2Rate} jobs/s for ${input.w2Seconds} s (ms)`,
      rows: [
        own("pg.w2.p50", "ms", "p50"),
        own("pg.w2.p95", "ms", "p95"),
        own("pg.w2.p99", "ms", "p99"),
        own("pg.w2.max", "ms", "max"),
        own("pg.w2.connections", "count", "connections held, enqueueing and processing"),
      ],
    },
    {
      title: `W5: W1 with ${b} waiting jobs due in a day in the table`,
      rows: [
        own("pg.w5.enqueue", "rate", "enqueue one by one (jobs/s)"),
        own("pg.w5.process", "rate", "process, concurrency 8 (jobs/s)"),
        own("pg.w5.backlogMs", "ms", `inserting the ${b} jobs and VACUUM ANALYZE (ms)`),
      ],
    },
    {
      title: `Cost per job (µs), empty table → ${b} waiting`,
      rows: [
        perJob("pg.w1.seq.enqueue", "enqueue one by one, empty"),
        perJob("pg.w5.enqueue", `enqueue one by one, ${b} waiting`),
        perJob("pg.w1.seq.process", "process, empty"),
        perJob("pg.w5.process", `process, ${b} waiting`),
        backlogVsEmpty("enqueue"),
        backlogVsEmpty("process"),
      ],
    },
  ];
  const rows: TableRow[] = [];
  const lines: string[][] = [];
  for (const section of list) {
    lines.push([`**${section.title}**`, ...input.columns.map(() => "")]);
    for (const row of section.rows) {
      const cells = input.columns.map((column) =>
        column.absent !== undefined ? column.absent : formatValue(row.value(column), row.unit)
      );
      rows.push({ label: `${section.title} / ${row.label}`, cells });
      lines.push([row.label, ...cells]);
    }
  }

  const toBest = (key: string, label: string): Target => ({
    label,
    unit: "ratio",
    check: (column) => {
      const value = roundRatio(input.perRound[column.id]?.[key], bestOfPeers(input, key));
      return { value, pass: typeof value === "number" && value >= 1 };
    },
  });
  const flat = (metric: string): Target => ({
    label: `${metric === "enqueue" ? "enqueue" : "processing"} with ${b} waiting ≥ 0.8× empty`,
    unit: "ratio",
    check: (column) => {
      const value = roundRatio(
        input.perRound[column.id]?.[`pg.w5.${metric}`],
        input.perRound[column.id]?.[`pg.w1.seq.${metric}`],
      );
      return { value, pass: typeof value === "number" && value >= 0.8 };
    },
  });
  const goals: Target[] = [
    toBest("pg.w1.seq.enqueue", "W1 enqueue one by one ≥ the best peer's"),
    toBest("pg.w1.bulk.enqueue", "W1 bulk enqueue ≥ the best peer's"),
    toBest("pg.w1.seq.process", "W1 processing ≥ the best peer's"),
    {
      label: "W2 p99 ≤ 10 ms",
      unit: "ms",
      check: (column) => {
        const value = get(column, "pg.w2.p99");
        return { value, pass: typeof value === "number" && value <= 10 };
      },
    },
    flat("enqueue"),
    flat("process"),
  ];
  const jobq = input.columns.filter((column) => column.isJobq && column.absent === undefined);
  const outcomes: TargetOutcome[] = [];
  const targetLines = goals.map((target) => [
    target.label,
    ...jobq.map((column) => {
      const outcome = target.check(column);
      if (outcome === undefined || outcome.value === undefined) return "—";
      outcomes.push({
        target: target.label,
        column: column.id,
        value: outcome.value,
        pass: outcome.pass,
      });
      if (outcome.value === null) return "n/a";
      return `${formatValue(outcome.value, target.unit)} ${outcome.pass ? "pass" : "**FAIL**"}`;
    }),
  ]);
  return {
    figures: {
      markdown: markdownTable(["", ...input.columns.map((column) => column.label)], lines),
      rows,
    },
    targets: {
      markdown: markdownTable(["target", ...jobq.map((column) => column.label)], targetLines),
      outcomes,
    },
  };
}

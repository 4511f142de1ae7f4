/**
 * All the dashboard knows of the queue comes through here: one snapshot of
 * the jobs at a time, shared by every request, and the operations of the
 * `jobq` command. It speaks only the engine's public API, so that it works
 * the same on every store.
 */
import {
  computeStats,
  creationStamp,
  findJob,
  parseAge,
  removeFailed,
  removeOne,
  retryFailed,
  retryOne,
  type StateCounts,
  UsageError,
} from "../admin/_operations.ts";
import type { EngineInfo } from "../store/job_store.ts";
import { type Job, type JobRecord, JobState } from "../job/job.ts";
import type { JobQueueEngine } from "../engine/job_queue_engine.ts";

/** A job as the list shows it: no params or result, the error's message only, shortened. */
export interface JobSummary {
  id: string;
  methodName: string;
  state: JobState;
  executionDate: number;
  createdAt: number;
  attempts: number;
  error?: string;
}

/** One minute of the chart. */
export interface Sample {
  /** The minute's start, epoch ms. */
  minute: number;
  /** Jobs waiting (not started) at the minute's last sample; `null` when none was taken. */
  waiting: number | null;
  /** Jobs that completed in the minute, as seen between snapshots. */
  completed: number;
  /** Jobs that failed for good in the minute. */
  failed: number;
}

/** What the page's header, counts, chart and side lists show. */
export interface Overview {
  /** Where the queue is: its directory, or its database URL without the password. */
  location: string;
  /** When the snapshot was taken, epoch ms. */
  takenAt: number;
  readOnly: boolean;
  total: number;
  byState: StateCounts;
  byMethod: Record<string, StateCounts & { total: number }>;
  /** The jobs not started yet that are due first. */
  nextDue: JobSummary[];
  /** The jobs not started yet that were scheduled first. */
  oldestWaiting: JobSummary[];
  engines: EngineInfo[];
  /** The last hour, one entry per minute, oldest first. */
  history: Sample[];
}

/** One page of the job list. */
export interface JobPage {
  /** How many jobs match the filter. */
  total: number;
  offset: number;
  jobs: JobSummary[];
}

interface Snapshot {
  readonly takenAt: number;
  /** The count of changes made through this dashboard when it was taken. */
  readonly version: number;
  /** In id order: by due date, then creation. */
  readonly jobs: readonly Job[];
  readonly engines: EngineInfo[];
}

/** How many jobs the side lists show. */
const SIDE_LIST_LENGTH = 5;
/** The longest error message a summary carries. */
const SUMMARY_ERROR_LENGTH = 200;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The most jobs one page of the list holds. */
export const MAX_PAGE_SIZE = 200;

/** The queue as the dashboard sees it; see the module doc. */
export class DashboardSource {
  readonly #engine: JobQueueEngine;
  readonly #maxAge: number;
  #snapshot: Snapshot | undefined;
  #refreshing: { readonly version: number; readonly snapshot: Promise<Snapshot> } | undefined;
  /** Counts the changes made here: a request after one waits for a snapshot that has it. */
  #version = 0;
  readonly #history = new Map<number, Sample>();
  /** The waiting and running jobs of the previous snapshot. */
  #unfinished = new Set<string>();
  /** Jobs this dashboard removed or retried: their vanishing is no completion. */
  readonly #removedHere = new Set<string>();
  /** Finished jobs already counted in the history, with their finishing time. */
  readonly #counted = new Map<string, number>();

  /**
   * @param engine The engine whose public API is the only way in.
   * @param maxAge How old, in ms, a snapshot may be before a request takes a new one.
   */
  constructor(engine: JobQueueEngine, maxAge: number) {
    this.#engine = engine;
    this.#maxAge = maxAge;
  }

  /** What the page names the queue by: its directory, or its database URL without the password. */
  get location(): string {
    return this.#engine.store.location ?? "the queue's store";
  }

  /**
   * The current snapshot: the cached one while it is younger than `maxAge`
   * and no operation changed the queue; otherwise a new one. While one is
   * being taken, requests get the previous one (a large directory takes a
   * while to list) unless an operation made it stale.
   */
  async snapshot(): Promise<Snapshot> {
    const current = this.#snapshot;
    const version = this.#version;
    const usable = current !== undefined && current.version === version;
    if (usable && Date.now() - current.takenAt < this.#maxAge) return current;
    if (this.#refreshing?.version !== version) {
      const snapshot = this.#take(version).finally(() => {
        if (this.#refreshing?.snapshot === snapshot) this.#refreshing = undefined;
      });
      this.#refreshing = { version, snapshot };
    }
    return usable ? current : await this.#refreshing!.snapshot;
  }

  async #take(version: number): Promise<Snapshot> {
    const [jobs, engines] = await Promise.all([
      this.#engine.getAllJobs(),
      this.#engine.getEngines(),
    ]);
    const snapshot = { takenAt: Date.now(), version, jobs, engines };
    this.#sample(snapshot);
    if (version >= (this.#snapshot?.version ?? 0)) this.#snapshot = snapshot;
    return snapshot;
  }

  /** Adds what changed since the previous snapshot to the history. */
  #sample({ takenAt, jobs }: Snapshot): void {
    const bucket = (time: number): Sample => {
      const minute = time - time % MINUTE;
      let sample = this.#history.get(minute);
      if (sample === undefined) {
        sample = { minute, waiting: null, completed: 0, failed: 0 };
        this.#history.set(minute, sample);
      }
      return sample;
    };
    const unfinished = new Set<string>();
    const present = new Set<string>();
    let waiting = 0;
    for (const job of jobs) {
      present.add(job.id);
      if (job.state === JobState.NOT_STARTED) waiting++;
      if (job.state === JobState.NOT_STARTED || job.state === JobState.IN_PROGRESS) {
        unfinished.add(job.id);
      } else if (!this.#counted.has(job.id)) {
        const finishedAt = job.finishedAt ?? takenAt;
        this.#counted.set(job.id, finishedAt);
        if (finishedAt > takenAt - HOUR) {
          bucket(finishedAt)[job.state === JobState.FAILED ? "failed" : "completed"]++;
        }
      }
    }
    // A job that was waiting or running and is gone completed, its file
    // removed (the default), unless this dashboard removed it.
    for (const id of this.#unfinished) {
      if (!present.has(id) && !this.#removedHere.has(id)) bucket(takenAt).completed++;
    }
    this.#unfinished = unfinished;
    for (const id of this.#removedHere) if (!present.has(id)) this.#removedHere.delete(id);
    bucket(takenAt).waiting = waiting;
    for (const minute of this.#history.keys()) {
      if (minute <= takenAt - HOUR) this.#history.delete(minute);
    }
    for (const [id, finishedAt] of this.#counted) {
      if (finishedAt <= takenAt - HOUR && !present.has(id)) this.#counted.delete(id);
    }
  }

  async overview(readOnly: boolean): Promise<Overview> {
    const { takenAt, jobs, engines } = await this.snapshot();
    const { total, byState, byMethod } = computeStats(jobs);
    const waiting = jobs.filter((job) => job.state === JobState.NOT_STARTED);
    const first = (key: (job: Job) => number) =>
      [...waiting].sort((a, b) => key(a) - key(b) || (creationStamp(a) < creationStamp(b) ? -1 : 1))
        .slice(0, SIDE_LIST_LENGTH).map(summarize);
    const history: Sample[] = [];
    const now = takenAt - takenAt % MINUTE;
    for (let minute = now - HOUR + MINUTE; minute <= now; minute += MINUTE) {
      history.push(
        this.#history.get(minute) ?? { minute, waiting: null, completed: 0, failed: 0 },
      );
    }
    return {
      location: this.location,
      takenAt,
      readOnly,
      total,
      byState,
      byMethod,
      // Jobs are listed in due order already.
      nextDue: waiting.slice(0, SIDE_LIST_LENGTH).map(summarize),
      oldestWaiting: first((job) => job.createdAt),
      engines,
      history,
    };
  }

  /** A page of the jobs of `state` and `method` (both optional), in due order. */
  async jobs(
    filter: { state?: JobState; method?: string },
    offset: number,
    limit: number,
  ): Promise<JobPage> {
    const { jobs } = await this.snapshot();
    const matching = jobs.filter((job) =>
      (filter.state === undefined || job.state === filter.state) &&
      (filter.method === undefined || job.methodName === filter.method)
    );
    return {
      total: matching.length,
      offset,
      jobs: matching.slice(offset, offset + limit).map(summarize),
    };
  }

  /** A job's whole record. */
  async job(id: string): Promise<JobRecord> {
    return (await this.#find(id)).toJSON();
  }

  async retry(id: string): Promise<JobRecord> {
    const job = await this.#find(id);
    return (await this.#change(() => retryOne(this.#engine, job), job.id)).toJSON();
  }

  retryFailed(method: string | undefined): Promise<number> {
    return this.#change(() => retryFailed(this.#engine, method));
  }

  async remove(id: string): Promise<void> {
    const job = await this.#find(id);
    await this.#change(() => removeOne(this.#engine, job), job.id);
  }

  removeFailed(method: string | undefined, olderThan: string | undefined): Promise<number> {
    const age = olderThan === undefined ? 0 : parseAge(olderThan);
    return this.#change(() => removeFailed(this.#engine, method, age));
  }

  /**
   * Runs an operation that changes the queue; later requests wait for a
   * snapshot taken after it. `id` is the job it may make vanish: that is no
   * completion.
   */
  async #change<T>(operation: () => Promise<T>, id?: string): Promise<T> {
    if (id !== undefined) this.#removedHere.add(id);
    try {
      return await operation();
    } finally {
      this.#version++;
    }
  }

  /** The job with this id in the current snapshot; it is only compared, never a path. */
  async #find(id: string): Promise<Job> {
    if (id.length === 0 || id.length > 256) {
      throw new UsageError("A job id is 1 to 256 characters: the list shows the jobs' ids");
    }
    return findJob((await this.snapshot()).jobs, id, this.location);
  }
}

function summarize(job: Job): JobSummary {
  const summary: JobSummary = {
    id: job.id,
    methodName: job.methodName,
    state: job.state,
    executionDate: job.executionDate,
    createdAt: job.createdAt,
    attempts: job.attempts,
  };
  if (job.error !== undefined) {
    summary.error = job.error.message.slice(0, SUMMARY_ERROR_LENGTH);
  }
  return summary;
}

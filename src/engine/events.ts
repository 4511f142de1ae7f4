import type { Job } from "../job/job.ts";
import type { JobQueueError } from "../job_queue_error.ts";

/** The `info` of a debug event: the job involved, and other details. */
export interface DebugInfo {
  /** The job the message is about, if any. */
  readonly job?: Job;
  /** A count the message reports, such as jobs loaded or removed. */
  readonly count?: number;
  /** The method the message is about, such as one paused (`"*"` for all). */
  readonly methodName?: string;
}

/**
 * The payload of a `debug` event: a message and details.
 *
 * @example
 * ```ts
 * import type { DebugPayload } from "@x/jobq";
 *
 * const payload: DebugPayload = { message: "loaded jobs", info: { count: 3 } };
 * ```
 */
export interface DebugPayload {
  /** What happened: `"starting job"`, `"completed job"`, `"failed job"`, … */
  readonly message: string;
  /** The job involved and other details. */
  readonly info: DebugInfo;
}

/**
 * What each event carries: the value `queue.on()` listeners and the engine's
 * `eventListener` receive.
 *
 * - `error`: a {@linkcode JobQueueError} (a failed job, a corrupt file, …).
 * - `debug`: a {@linkcode DebugPayload}.
 * - `scheduled`, `started`, `completed`, `failed`, `retrying`: the
 *   {@linkcode Job} as it is after the transition.
 *
 * @example
 * ```ts
 * import type { JobQueuePayloadMap } from "@x/jobq";
 *
 * const onFailed = (job: JobQueuePayloadMap["failed"]) => console.log(job.error?.message);
 * ```
 */
export interface JobQueuePayloadMap {
  /** Something went wrong. */
  error: JobQueueError;
  /** A step of the engine's work, for tracing. */
  debug: DebugPayload;
  /** A job was stored. */
  scheduled: Job;
  /** A handler started on a job. */
  started: Job;
  /** A job's handler resolved. */
  completed: Job;
  /** A job's last attempt failed, or it had no handler. */
  failed: Job;
  /** An attempt failed and the job waits for another (its `error` says why). */
  retrying: Job;
  /** A running job's handler reported progress (the job's `progress`). */
  progress: Job;
}

/** The name of an event: `error`, `debug`, or a job transition such as `completed`. */
export type JobQueueEventName = keyof JobQueuePayloadMap;

/**
 * Receives every event of an engine: its name and its payload.
 *
 * @example Logging every event
 * ```ts
 * import type { JobQueueEventListener } from "@x/jobq";
 *
 * const listener: JobQueueEventListener = (eventName, event) => {
 *   console.log(`${eventName}:`, event);
 * };
 * ```
 */
export type JobQueueEventListener = <K extends JobQueueEventName>(
  eventName: K,
  event: JobQueuePayloadMap[K],
) => void;

/**
 * The `error` event of a `JobQueue`.
 *
 * @example
 * ```ts
 * import { JobQueueError, JobQueueErrorEvent } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const event = new JobQueueErrorEvent(new JobQueueError("disk full"));
 * assert.equal(event.type, "error");
 * assert.equal(event.payload.message, "disk full");
 * ```
 */
export class JobQueueErrorEvent extends Event {
  /** The error. */
  readonly error: JobQueueError;

  /**
   * Creates the event.
   *
   * @param error The error to report.
   */
  constructor(error: JobQueueError) {
    super("error");
    this.error = error;
  }

  /** The error, as `queue.on("error", …)` hands it over. */
  get payload(): JobQueueError {
    return this.error;
  }
}

/**
 * The `debug` event of a `JobQueue`.
 *
 * @example
 * ```ts
 * import { JobQueueDebugEvent } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const event = new JobQueueDebugEvent({ message: "loaded jobs", info: { count: 2 } });
 * assert.equal(event.message, "loaded jobs");
 * ```
 */
export class JobQueueDebugEvent extends Event {
  /** What happened. */
  readonly message: string;
  /** The job involved and other details. */
  readonly info: DebugInfo;

  /**
   * Creates the event.
   *
   * @param payload The message and its details.
   */
  constructor(payload: DebugPayload) {
    super("debug");
    this.message = payload.message;
    this.info = payload.info;
  }

  /** `{ message, info }`, as `queue.on("debug", …)` hands it over. */
  get payload(): DebugPayload {
    return { message: this.message, info: this.info };
  }
}

/** The names of the events that mark a job's transitions. */
export type JobEventType =
  | "scheduled"
  | "started"
  | "completed"
  | "failed"
  | "retrying"
  | "progress";

/**
 * The event of a job's transition: `scheduled`, `started`, `completed`,
 * `failed` or `retrying`, or of its `progress`, carrying the job as it is
 * after the change.
 *
 * @example
 * ```ts
 * import { Job, JobEvent } from "@x/jobq";
 * import assert from "node:assert/strict";
 *
 * const event = new JobEvent("scheduled", Job.fromSpec({ methodName: "ping" }));
 * assert.equal(event.job.methodName, "ping");
 * ```
 */
export class JobEvent extends Event {
  /** The job after the transition. */
  readonly job: Job;

  /**
   * Creates the event.
   *
   * @param type Which transition happened.
   * @param job The job after it.
   */
  constructor(type: JobEventType, job: Job) {
    super(type);
    this.job = job;
  }

  /** The job, as `queue.on(…)` hands it over. */
  get payload(): Job {
    return this.job;
  }
}

/**
 * The events a `JobQueue` dispatches, by name, for a typed
 * `addEventListener`.
 *
 * @example
 * ```ts
 * import type { JobQueueEventMap } from "@x/jobq";
 *
 * const onCompleted = (event: JobQueueEventMap["completed"]) => console.log(event.job.id);
 * ```
 */
export interface JobQueueEventMap {
  /** Something went wrong. */
  error: JobQueueErrorEvent;
  /** A step of the engine's work. */
  debug: JobQueueDebugEvent;
  /** A job was stored. */
  scheduled: JobEvent;
  /** A handler started on a job. */
  started: JobEvent;
  /** A job's handler resolved. */
  completed: JobEvent;
  /** A job failed. */
  failed: JobEvent;
  /** An attempt failed and the job waits for another. */
  retrying: JobEvent;
  /** A running job reported progress. */
  progress: JobEvent;
}

/** Wraps an engine event's payload into the queue's `Event`. */
export function toEvent<K extends JobQueueEventName>(
  name: K,
  payload: JobQueuePayloadMap[K],
): JobQueueEventMap[K] {
  switch (name) {
    case "error":
      return new JobQueueErrorEvent(payload as JobQueueError) as JobQueueEventMap[K];
    case "debug":
      return new JobQueueDebugEvent(payload as DebugPayload) as JobQueueEventMap[K];
    default:
      return new JobEvent(name as JobEventType, payload as Job) as JobQueueEventMap[K];
  }
}

/**
 * Claims of due jobs served in batches. On a database a claim costs a round
 * trip and a statement, whatever its limit; the engine asks again for each
 * slot that frees up, while an earlier claim may still be under way. Calls
 * that arrive meanwhile wait for it and are then served by one claim.
 */
import type { ClaimRequest, DueJobs } from "../job_store.ts";

/** A call waiting for the claim under way to end. */
interface WaitingCall {
  readonly request: ClaimRequest;
  resolve(due: DueJobs): void;
  reject(error: unknown): void;
}

/** Serves overlapping `claimDue` calls with one claim at a time. */
export class ClaimBatches {
  readonly #claim: (request: ClaimRequest) => Promise<DueJobs>;
  #waiting: WaitingCall[] = [];
  #claiming = false;

  /** @param claim Claims due jobs with one statement. */
  constructor(claim: (request: ClaimRequest) => Promise<DueJobs>) {
    this.#claim = claim;
  }

  /** Claims at once when no claim is under way; otherwise with the calls that wait for it. */
  claimDue(request: ClaimRequest): Promise<DueJobs> {
    // Not Promise.withResolvers: Node 20 lacks it.
    const due = new Promise<DueJobs>((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
    });
    if (!this.#claiming) void this.#claimWaiting();
    return due;
  }

  async #claimWaiting(): Promise<void> {
    this.#claiming = true;
    while (this.#waiting.length > 0) {
      // Calls that skip the same methods (the engine's set of paused ones) share a claim.
      const { skip } = this.#waiting[0]!.request;
      const batch = this.#waiting.filter((call) => call.request.skip === skip);
      this.#waiting = this.#waiting.filter((call) => call.request.skip !== skip);
      try {
        const limit = batch.reduce((sum, call) => sum + call.request.limit, 0);
        const { jobs, nextDueAt } = await this.#claim({ limit, skip });
        let taken = 0;
        for (const call of batch) {
          call.resolve({ jobs: jobs.slice(taken, taken + call.request.limit), nextDueAt });
          taken += call.request.limit;
        }
      } catch (error) {
        for (const call of batch) call.reject(error);
      }
    }
    this.#claiming = false;
  }
}

/**
 * Claims: which engine runs a job, as a hard link in `.jobq/claims/` to that
 * engine's claim token; the claims this engine holds and those it lost; and
 * the recovery of claims whose engine is gone.
 */
import { join } from "node:path";
import { isAlreadyExists, isNotFound } from "../../fs/_fs_errors.ts";
import type { Job } from "../../job/job.ts";
import type { EngineRegistry, EngineStatus } from "./_engine_registry.ts";
import { type FileOperations, parseJson } from "./_file_operations.ts";
import { idOfFileName, isJobFileName, type JobRef } from "./_job_files.ts";

/** A claim: who holds a job. */
interface ClaimRecord {
  engineId: string;
  /** A claim kept on a job that waits for its retry (`retryLater` with `keepClaim`): no run. */
  retry?: true;
}

/** The claims on a job directory's jobs, as one engine makes and judges them. */
export class Claims {
  readonly #files: FileOperations;
  readonly #registry: EngineRegistry;
  /** Ids of the jobs this engine holds a claim on, or is about to. */
  readonly #held = new Set<string>();
  /** Unreadable claim files and when they were first seen. */
  readonly #unreadable = new Map<string, number>();
  /**
   * Jobs whose claim another engine took from this one while it ran them,
   * taking it for dead: the interruption counted for that run is undone the
   * next time this engine writes the job (see interruptionsOf).
   */
  readonly #lost = new Set<string>();

  constructor(files: FileOperations, registry: EngineRegistry) {
    this.#files = files;
    this.#registry = registry;
  }

  /**
   * Claims a job for this engine, exclusively: resolves to `false` when
   * another engine holds the job.
   */
  async create(job: JobRef, failure: string): Promise<boolean> {
    // Held before the file exists, so that recover() never takes it for a
    // leftover; a claim this engine already holds stays held on failure.
    const held = this.#held.has(job.id);
    this.#held.add(job.id);
    // A link to this engine's token: it fails if the claim exists, so it is
    // as exclusive as O_EXCL, and a claim is whole from the start.
    const token = this.#registry.tokenPath(this.#files.engineId);
    const path = this.#files.claimPath(job);
    try {
      try {
        await this.#files.fs.link(token, path);
      } catch (error) {
        // No token yet (the first claim), or gone (an engine took this one
        // for dead and cleaned up after it): make it.
        if (!isNotFound(error)) throw error;
        await this.#writeToken(token);
        await this.#files.fs.link(token, path);
      }
      return true;
    } catch (cause) {
      if (!held) this.#held.delete(job.id);
      if (isAlreadyExists(cause)) return false;
      throw this.#files.error(`${failure} ${job.key}`, cause, job);
    }
  }

  /**
   * Creates the claim token unless it exists. Never replaces it: claims
   * made at the same time may be linking to it, and a link to a file that
   * has just lost its last name fails with ENOENT.
   */
  async #writeToken(path: string): Promise<void> {
    const token: ClaimRecord = { engineId: this.#files.engineId };
    await this.#files.linkNew(path, JSON.stringify(token)).catch((cause) => {
      throw this.#files.error("Cannot write this engine's claim token", cause);
    });
  }

  /**
   * Tells whether this engine still holds the job's claim. It does not when
   * it stalled for longer than `claimTimeout` and another engine recovered
   * the claim: the other engine's run then owns the job's file.
   */
  async holds(job: Job): Promise<boolean> {
    const text = await this.#files.readRecord(this.#files.claimPath(job)).catch((cause) => {
      if (isNotFound(cause)) return undefined;
      throw this.#files.error(`Cannot read the claim on job ${job.key}`, cause, job);
    });
    return (parseJson(text) as ClaimRecord | undefined)?.engineId === this.#files.engineId;
  }

  /** Whether any engine holds a claim on the job. */
  async exists(job: JobRef): Promise<boolean> {
    return await this.#files.readIfExists(this.#files.claimPath(job)) !== undefined;
  }

  /** The names of the claim files: those of the claimed jobs' files. */
  async list(): Promise<string[]> {
    return await this.#files.list(this.#files.claims);
  }

  /**
   * Lets go of this engine's claim on a job. A claim file that cannot be
   * removed now is reported, not thrown: what it guards is already written,
   * and recover() removes this engine's claims on jobs it no longer holds.
   */
  async drop(job: JobRef): Promise<void> {
    this.#held.delete(job.id);
    await this.#files.removeIfExists(this.#files.claimPath(job)).catch((cause) => {
      this.#files.report(
        this.#files.error(
          `Cannot remove the claim on job ${job.key} yet; it will be retried by the next poll`,
          cause,
          job,
        ),
      );
    });
  }

  /** Forgets a claim this engine lost to another: that one's run owns the file now. */
  forget(job: Job): undefined {
    this.#held.delete(job.id);
    this.#lost.add(job.id);
    return undefined;
  }

  /**
   * Stops holding a claim this engine may or may not still have, leaving it
   * to recover() to judge: a claim of this engine on a job it does not hold
   * is removed there.
   */
  leaveToRecovery(job: JobRef): void {
    this.#held.delete(job.id);
  }

  /**
   * Marks this engine's claim on a job that waits for its retry: its run is
   * over and counted, so recovered, the claim must not count one more.
   */
  async keepForRetry(job: Job): Promise<void> {
    const kept: ClaimRecord = { engineId: this.#files.engineId, retry: true };
    await this.#files.atomicWrite(this.#files.claimPath(job), JSON.stringify(kept), false)
      .catch((cause) => {
        this.#files.report(
          this.#files.error("Cannot mark the claim of a job that waits to retry", cause, job),
        );
      });
  }

  /**
   * A job's count of interruptions, less the one counted when another engine
   * took this engine's claim on it for a dead engine's: this engine lived,
   * and a job must not be failed for deaths that did not happen.
   */
  interruptionsOf(job: Job): number {
    return this.#lost.delete(job.id) ? Math.max(0, job.interruptions - 1) : job.interruptions;
  }

  /**
   * Takes back the claims of dead engines, and this engine's own claims on
   * jobs it no longer holds; resolves to how many. For each claim of
   * another engine's run, `countCutShortRun` is given the claim's name (the
   * job's file name) to count the run that the crash cut short.
   */
  async recover(countCutShortRun: (name: string) => Promise<void>): Promise<number> {
    // Claims are read before engines are listed: an engine registers before
    // it claims, so a claim whose engine is missing from the later listing
    // is an orphan. (A claim read after the listing could be one that an
    // engine registered since then has just made.)
    const claimNames = (await this.list()).filter(isJobFileName);
    // A claim seen unreadable and gone since must not leave its first-seen
    // time to a later claim of the same job.
    for (const name of this.#unreadable.keys()) {
      if (!claimNames.includes(name)) this.#unreadable.delete(name);
    }
    const claims: { name: string; text: string }[] = [];
    for (const name of claimNames) {
      const text = await this.#read(name);
      if (text !== undefined) claims.push({ name, text });
    }
    const engines = await this.#registry.read();
    // Judged once: an engine that dies while this runs must not see its
    // claims taken now and its files left for the next time.
    const dead = await this.#registry.removeDead(engines);
    let recovered = 0;
    for (const { name, text } of claims) {
      if (!this.#isStale(name, text, engines, dead)) continue;
      // Read again just before it is taken: a claim dropped and made anew
      // since (by this engine, or by one missing from the listing) is judged
      // at the next recovery. Judged again too: this engine may have claimed
      // the job again meanwhile.
      if (await this.#read(name) !== text) continue;
      if (!this.#isStale(name, text, engines, dead)) continue;
      if (await this.#files.takeOver(join(this.#files.claims, name), text)) {
        this.#unreadable.delete(name);
        recovered++;
        const claim = parseJson(text) as ClaimRecord | undefined;
        if (claim?.engineId !== this.#files.engineId && claim?.retry !== true) {
          await countCutShortRun(name);
        }
      }
    }
    return recovered;
  }

  /** A claim's text, or `undefined` when it is gone. */
  async #read(name: string): Promise<string | undefined> {
    return await this.#files.readIfExists(join(this.#files.claims, name)).catch((cause) => {
      throw this.#files.error(`Cannot read claim ${name}`, cause);
    });
  }

  /** Tells whether a claim's engine is gone, so that the claim can be taken back. */
  #isStale(
    name: string,
    text: string,
    engines: Map<string, EngineStatus>,
    dead: ReadonlySet<string>,
  ): boolean {
    const claim = parseJson(text) as ClaimRecord | undefined;
    if (claim === undefined || typeof claim.engineId !== "string") {
      // Claims are linked into place whole; one that cannot be read was
      // damaged some other way (a disk fault, a hand edit). Give it the lease.
      const firstSeen = this.#unreadable.get(name) ?? performance.now();
      this.#unreadable.set(name, firstSeen);
      return performance.now() - firstSeen > this.#registry.claimTimeout;
    }
    this.#unreadable.delete(name);
    if (claim.engineId === this.#files.engineId) {
      // This engine's own claim on a job it no longer holds: one whose
      // removal failed earlier.
      return !this.#held.has(idOfFileName(name));
    }
    const engine = engines.get(claim.engineId);
    return engine === undefined
      ? !this.#registry.isAlive(claim.engineId, undefined)
      : dead.has(claim.engineId);
  }
}

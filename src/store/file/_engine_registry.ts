/**
 * The engine registry: a file per live engine in `.jobq/engines/`, refreshed
 * by heartbeats; which engines are alive (by pid on this host, else by a
 * heartbeat watched on this engine's monotonic clock); and the removal of
 * what dead engines left behind.
 */
import { join } from "node:path";
import process from "node:process";
import { isNotFound } from "../../fs/_fs_errors.ts";
import { ENGINE_ID_PATTERN } from "../_engine_id.ts";
import type { EngineInfo, StoreEngine } from "../job_store.ts";
import { type FileOperations, parseJson, TEMP_FILE_PATTERN } from "./_file_operations.ts";
import { stripJson } from "./_job_files.ts";

/** An engine file: who is alive, refreshed by heartbeats. */
interface EngineRecord {
  engineId: string;
  pid: number;
  /** Where `pid` means something: see `FileSystemAdapter.hostId()`. */
  hostId?: string;
  /** The engine's own lease: others judge its heartbeat by it. */
  claimTimeout: number;
  startedAt: number;
  heartbeatAt: number;
}

/**
 * How an engine's heartbeat looked to this one: the same for how long, on
 * this engine's monotonic clock. Wall clocks are not compared across
 * processes: an NTP step or a resumed machine would make a live engine look
 * silent (or a dead one live).
 */
interface HeartbeatWatch {
  /** The engine file's modification time and text, when last read. */
  signature: string;
  /** When it was last read, on this engine's monotonic clock. */
  readAt: number;
  /** For how long, in ms, it has been seen unchanged. */
  silentFor: number;
}

/**
 * The most of an engine's lease that one gap between two readings of its
 * heartbeat counts for: a reader held up itself (a blocked event loop, a
 * suspended machine) did not see the engine silent for all that time, which
 * may have held the engine up too. Well below the third of a lease at which
 * engines beat, so that an engine held up with the reader, which beats as
 * soon as it runs again, is not taken for dead.
 */
const LONGEST_COUNTED_GAP = 1 / 4;

/** An engine file that exists but could not be read this time: taken as alive. */
const UNREADABLE = "unreadable";

/** What a listing of engine files tells about each engine. */
export type EngineStatus = EngineRecord | typeof UNREADABLE;

/** Engines alive in this process, so that a reused pid is not taken for a live one. */
const enginesInThisProcess = new Set<string>();

/** The engines registered on a job directory, as one engine sees them. */
export class EngineRegistry {
  readonly #files: FileOperations;
  #claimTimeout = 0;
  readonly #startedAt = Date.now();
  /** The heartbeats of the other engines, as this one watches them. */
  readonly #heartbeats = new Map<string, HeartbeatWatch>();
  /** The date this engine last gave its engine file, by a write or by touch(). */
  #beatAt = 0;
  /** Engines this store found dead and removed: their temporary files are leftovers. */
  readonly #deadEngines = new Set<string>();

  constructor(files: FileOperations) {
    this.#files = files;
  }

  /** This engine's lease (its claimTimeout), from register() on. */
  get claimTimeout(): number {
    return this.#claimTimeout;
  }

  /** Registers `engine` (the one set on the files) as alive, and writes its engine file. */
  async register(engine: StoreEngine): Promise<void> {
    this.#claimTimeout = engine.claimTimeout;
    enginesInThisProcess.add(engine.engineId);
    await this.heartbeat();
  }

  /** Takes this engine out: its engine file and its claim token. */
  async unregister(): Promise<void> {
    enginesInThisProcess.delete(this.#files.engineId);
    await this.#remove(this.#files.engineId).catch((cause) => {
      throw this.#files.error("Cannot remove this engine's file", cause);
    });
  }

  async heartbeat(): Promise<void> {
    const path = this.#enginePath(this.#files.engineId);
    const record: EngineRecord = {
      engineId: this.#files.engineId,
      pid: process.pid,
      ...(this.#files.hostId === undefined ? {} : { hostId: this.#files.hostId }),
      claimTimeout: this.#claimTimeout,
      startedAt: this.#startedAt,
      heartbeatAt: Date.now(),
    };
    try {
      await this.#files.atomicWrite(path, JSON.stringify(record), false);
      this.#beatAt = record.heartbeatAt;
    } catch (cause) {
      // A full disk: the file's modification time tells others that this
      // engine lives as well, and changing it needs no space.
      if (!await this.#touch(path)) {
        throw this.#files.error("Cannot refresh this engine's heartbeat", cause);
      }
    }
  }

  /**
   * Gives an existing file a modification time other than the one it had
   * from this engine, even with a clock that stepped back or a file system
   * that keeps whole seconds; resolves to whether it could.
   */
  async #touch(path: string): Promise<boolean> {
    if (this.#files.fs.touch === undefined) return false;
    const now = Date.now();
    const date = Math.abs(now - this.#beatAt) >= 1000 ? now : this.#beatAt + 1000;
    try {
      await this.#files.fs.touch(path, new Date(date));
    } catch {
      return false;
    }
    this.#beatAt = date;
    return true;
  }

  async engines(): Promise<EngineInfo[]> {
    const engines: EngineInfo[] = [];
    for (const [id, engine] of await this.read()) {
      if (engine === UNREADABLE) continue;
      const { pid, startedAt, heartbeatAt } = engine;
      const alive = this.isAlive(id, engine);
      engines.push({
        id,
        pid,
        startedAt,
        heartbeatAt,
        alive,
        current: id === this.#files.engineId,
      });
    }
    return engines;
  }

  /**
   * Reads the engine files, `<engineId>.json`, and watches their
   * heartbeats. One that exists but cannot be read this time (a passing I/O
   * error) counts as alive: taking a live engine for dead would run its jobs
   * twice. One that is not the record of the engine its name says (other
   * files, links, forgeries) is left out, and so counts as dead. Ids come
   * from names checked to be engine ids, so that removing a dead engine's
   * files never reaches outside the folder.
   */
  async read(): Promise<Map<string, EngineStatus>> {
    const engines = new Map<string, EngineStatus>();
    for (const name of await this.#files.list(this.#files.engines)) {
      if (!name.endsWith(".json")) continue;
      const engineId = stripJson(name);
      if (!ENGINE_ID_PATTERN.test(engineId)) continue;
      let text: string;
      let modifiedAt: number | undefined;
      try {
        const path = join(this.#files.engines, name);
        text = await this.#files.readRecord(path);
        modifiedAt = await this.#files.fs.modifiedAt?.(path);
      } catch (cause) {
        if (!isNotFound(cause)) engines.set(engineId, UNREADABLE);
        continue;
      }
      const record = parseJson(text) as EngineRecord | undefined;
      if (
        record?.engineId === engineId && typeof record.heartbeatAt === "number" &&
        typeof record.pid === "number"
      ) {
        engines.set(engineId, record);
        this.#watchHeartbeat(record, `${modifiedAt} ${text}`);
      }
    }
    for (const engineId of this.#heartbeats.keys()) {
      if (!engines.has(engineId)) this.#heartbeats.delete(engineId);
    }
    return engines;
  }

  /** Notes how an engine's heartbeat looks now: changed, or the same for longer. */
  #watchHeartbeat(engine: EngineRecord, signature: string): void {
    const now = performance.now();
    const seen = this.#heartbeats.get(engine.engineId);
    if (seen === undefined || seen.signature !== signature) {
      this.#heartbeats.set(engine.engineId, { signature, readAt: now, silentFor: 0 });
      return;
    }
    seen.silentFor += Math.min(now - seen.readAt, this.#leaseOf(engine) * LONGEST_COUNTED_GAP);
    seen.readAt = now;
  }

  /** How long an engine may go unheard: its own claimTimeout. */
  #leaseOf(engine: EngineRecord): number {
    const lease = engine.claimTimeout;
    return typeof lease === "number" && lease > 0 && lease < Infinity ? lease : this.#claimTimeout;
  }

  /**
   * Whether an engine lives: by its pid on this host, else by its heartbeat,
   * which must not have been seen unchanged for its lease (see
   * #watchHeartbeat). An engine first seen now has a lease to show that it
   * lives.
   */
  isAlive(engineId: string, engine: EngineStatus | undefined): boolean {
    if (engine === UNREADABLE) return true;
    // An engine that says it runs on another host is judged by its heartbeat,
    // even when its id is one of this process's (an adapter that tells
    // another host id: a store that stands for another machine's in tests).
    if (enginesInThisProcess.has(engineId) && engine?.hostId === this.#files.hostId) return true;
    if (engine === undefined) return enginesInThisProcess.has(engineId);
    if (this.#files.hostId !== undefined && engine.hostId === this.#files.hostId) {
      // Same host and pid namespace: a dead pid, or this very pid (reused
      // after a restart) for an engine this process does not run, is proof
      // of death; a live pid is proof of life, whatever its heartbeat says
      // (its event loop may be blocked).
      if (engine.pid === process.pid) return false;
      const alive = this.#files.fs.isProcessAlive?.(engine.pid);
      if (alive !== undefined) return alive;
    }
    const seen = this.#heartbeats.get(engineId);
    return seen === undefined || seen.silentFor < this.#leaseOf(engine);
  }

  /**
   * Removes the files of the dead engines among `engines`, judged once (an
   * engine that dies meanwhile is judged next time): resolves to their ids.
   */
  async removeDead(engines: ReadonlyMap<string, EngineStatus>): Promise<Set<string>> {
    const dead = new Set<string>();
    for (const [engineId, engine] of engines) {
      if (!this.isAlive(engineId, engine)) {
        await this.#remove(engineId).catch((cause) => {
          throw this.#files.error(`Cannot remove the file of dead engine ${engineId}`, cause);
        });
        this.#deadEngines.add(engineId);
        dead.add(engineId);
      }
    }
    return dead;
  }

  /**
   * Removes temporary files left by engines that died while writing, and
   * the claim tokens of dead engines. A
   * temporary file of an engine with no engine file yet may belong to one
   * that is starting, so those are removed only once older than the lease.
   */
  async removeLeftovers(directories: string[], listing?: string[]): Promise<void> {
    const engines = await this.read();
    for (const directory of directories) {
      for (const name of listing ?? await this.#files.list(directory)) {
        if (directory === this.#files.engines && name.endsWith(".claim")) {
          // A token whose engine file is gone: that engine died.
          const owner = name.slice(0, -".claim".length);
          if (!engines.has(owner) && !enginesInThisProcess.has(owner)) {
            await this.#files.removeIfExists(join(directory, name));
          }
          continue;
        }
        const temp = TEMP_FILE_PATTERN.exec(name);
        if (temp === null) continue;
        const [, owner, createdAt] = temp as unknown as [string, string, string];
        const engine = engines.get(owner);
        const old = Date.now() - parseInt(createdAt, 36) > this.#claimTimeout;
        // An engine taken for dead may have been only held up: once its file
        // is back, its temporary files are live again.
        const dead = engine === undefined
          ? this.#deadEngines.has(owner) || (!enginesInThisProcess.has(owner) && old)
          : !this.isAlive(owner, engine);
        if (dead) {
          await this.#files.removeIfExists(join(directory, name));
        }
      }
    }
  }

  /** An engine's claim token: every claim of that engine is a link to it. */
  tokenPath(engineId: string): string {
    return join(this.#files.engines, `${engineId}.claim`);
  }

  #enginePath(engineId: string): string {
    return join(this.#files.engines, `${engineId}.json`);
  }

  /** Removes an engine's file, then its claim token. */
  async #remove(engineId: string): Promise<void> {
    await this.#files.removeIfExists(this.#enginePath(engineId));
    await this.#files.removeIfExists(this.tokenPath(engineId));
  }
}

/**
 * A file-system adapter for tests: it forwards every call to a real adapter,
 * records it, and makes the calls a test picks fail with the error code it
 * picks ("EIO", "ENOSPC", "EACCES", …), as a failing disk would.
 */
import {
  type FileInfo,
  type FileSystemAdapter,
  type MkdirOptions,
  NodeFileSystem,
  type ReadTextFileOptions,
  type WriteTextFileOptions,
} from "../mod.ts";

/** The adapter methods that touch the disk, which rules can make fail. */
export type FsMethod =
  | "readTextFile"
  | "writeTextFile"
  | "rename"
  | "remove"
  | "readDir"
  | "mkdir"
  | "link"
  | "syncDir"
  | "lstat"
  | "touch"
  | "modifiedAt";

/** One call to the adapter, as recorded. */
export interface FsCall {
  readonly method: FsMethod;
  /** The path the call works on; for `rename` and `link`, the source. */
  readonly path: string;
  /** The target of `rename` and `link`. */
  readonly to?: string;
  /** The options of `writeTextFile`. */
  readonly options?: WriteTextFileOptions;
  /** The code of the injected failure, when a rule or a disturbance made the call fail. */
  failedWith?: string;
  /** How long a disturbance held the call back before it went on, in ms. */
  delayedBy?: number;
  /** Whether a disturbance tore this `writeTextFile`: half the data written, then a failure. */
  torn?: boolean;
}

/** Which calls to make fail, and how. */
export interface FaultRule {
  /** The method whose calls fail. */
  readonly method: FsMethod;
  /** Picks the calls that fail by path; for `rename` and `link`, either path. */
  readonly path: (path: string) => boolean;
  /** The `code` of the error thrown, such as `"EIO"`. */
  readonly code: string;
  /**
   * How many calls fail before the rule stops matching.
   *
   * @default {Infinity}
   */
  readonly times?: number;
}

/** A rule once added: how often it struck, and a way to lift it. */
export interface Fault {
  /** How many calls this rule made fail so far. */
  readonly hits: number;
  /** Stops the rule from matching any further call. */
  clear(): void;
}

/**
 * What a disturbance does to one call: `fail` throws an error with `code`
 * before the call reaches the disk; `slow` forwards it after `delay` ms;
 * `tear` (for `writeTextFile` only; other calls just fail) writes the first
 * half of the data to the path and then throws an error with `code`, as a
 * write cut short by a full or failing disk.
 */
export type Disturbance =
  | { readonly kind: "fail"; readonly code: string }
  | { readonly kind: "slow"; readonly delay: number }
  | { readonly kind: "tear"; readonly code: string };

/** Picks what happens to a call: a {@linkcode Disturbance}, or `undefined` to let it through. */
export type Disturb = (call: FsCall) => Disturbance | undefined;

interface ActiveDisturbance {
  readonly disturb: Disturb;
  hits: number;
  cleared: boolean;
}

interface ActiveRule {
  readonly rule: FaultRule;
  hits: number;
  cleared: boolean;
}

/** An error as the runtimes' own file-system errors look: a message and a POSIX `code`. */
function injectedError(code: string, call: FsCall): Error {
  const target = call.to === undefined ? call.path : `${call.path} -> ${call.to}`;
  return Object.assign(new Error(`${code}: injected failure of ${call.method} ${target}`), {
    code,
  });
}

/**
 * Wraps a real adapter (a {@linkcode NodeFileSystem} by default); `calls`
 * lists every call in the order they were made, and {@linkcode fail} adds a
 * rule that makes matching calls throw before reaching the disk.
 */
export class FaultyFileSystem implements FileSystemAdapter {
  /** Every call so far, in the order they were made. */
  readonly calls: FsCall[] = [];
  readonly #inner: FileSystemAdapter;
  readonly #rules: ActiveRule[] = [];
  readonly #disturbances: ActiveDisturbance[] = [];

  constructor(inner: FileSystemAdapter = new NodeFileSystem()) {
    this.#inner = inner;
  }

  /** Makes the calls `rule` picks fail, until it has struck `times` times or is cleared. */
  fail(rule: FaultRule): Fault {
    const active: ActiveRule = { rule, hits: 0, cleared: false };
    this.#rules.push(active);
    return {
      get hits() {
        return active.hits;
      },
      clear: () => {
        active.cleared = true;
      },
    };
  }

  /**
   * Lets `disturb` decide, for each call no rule made fail, whether it fails,
   * is slow or is torn, until cleared: for faults picked at random. `hits`
   * counts the calls it disturbed.
   */
  disturb(disturb: Disturb): Fault {
    const active: ActiveDisturbance = { disturb, hits: 0, cleared: false };
    this.#disturbances.push(active);
    return {
      get hits() {
        return active.hits;
      },
      clear: () => {
        active.cleared = true;
      },
    };
  }

  /** The recorded calls of one method. */
  callsOf(method: FsMethod): FsCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  readTextFile(path: string, options?: ReadTextFileOptions): Promise<string> {
    return this.#call(
      { method: "readTextFile", path },
      () => this.#inner.readTextFile(path, options),
    );
  }

  writeTextFile(path: string, data: string, options?: WriteTextFileOptions): Promise<void> {
    return this.#call(
      { method: "writeTextFile", path, ...(options === undefined ? {} : { options }) },
      () => this.#inner.writeTextFile(path, data, options),
      () => this.#inner.writeTextFile(path, data.slice(0, Math.floor(data.length / 2)), options),
    );
  }

  rename(from: string, to: string): Promise<void> {
    return this.#call({ method: "rename", path: from, to }, () => this.#inner.rename(from, to));
  }

  remove(path: string): Promise<void> {
    return this.#call({ method: "remove", path }, () => this.#inner.remove(path));
  }

  readDir(path: string): Promise<string[]> {
    return this.#call({ method: "readDir", path }, () => this.#inner.readDir(path));
  }

  mkdir(path: string, options?: MkdirOptions): Promise<void> {
    return this.#call({ method: "mkdir", path }, () => this.#inner.mkdir(path, options));
  }

  link(existing: string, newPath: string): Promise<void> {
    return this.#call(
      { method: "link", path: existing, to: newPath },
      () => this.#inner.link(existing, newPath),
    );
  }

  syncDir(path: string): Promise<void> {
    return this.#call({ method: "syncDir", path }, () => this.#inner.syncDir(path));
  }

  lstat(path: string): Promise<FileInfo> {
    return this.#call({ method: "lstat", path }, () => this.#inner.lstat(path));
  }

  hostId(): string | undefined {
    return this.#inner.hostId?.();
  }

  isProcessAlive(pid: number): boolean {
    return this.#inner.isProcessAlive?.(pid) ?? true;
  }

  touch(path: string, date: Date): Promise<void> {
    return this.#call({ method: "touch", path }, () => this.#innerMethod("touch")(path, date));
  }

  modifiedAt(path: string): Promise<number> {
    return this.#call({ method: "modifiedAt", path }, () => this.#innerMethod("modifiedAt")(path));
  }

  /** One of the inner adapter's optional methods, which this one always has. */
  #innerMethod<K extends "touch" | "modifiedAt">(
    name: K,
  ): NonNullable<FileSystemAdapter[K]> {
    const method = this.#inner[name];
    if (method === undefined) throw new TypeError(`The inner adapter has no ${name}()`);
    return method.bind(this.#inner) as NonNullable<FileSystemAdapter[K]>;
  }

  /**
   * Records a call, then fails it if a rule picks it, or disturbs it if a
   * disturbance picks it, or forwards it. `tear` writes part of the data.
   */
  async #call<T>(
    call: FsCall,
    forward: () => Promise<T>,
    tear?: () => Promise<void>,
  ): Promise<T> {
    this.calls.push(call);
    const active = this.#rules.find((active) => this.#matches(active, call));
    if (active !== undefined) {
      active.hits++;
      call.failedWith = active.rule.code;
      throw injectedError(active.rule.code, call);
    }
    for (const active of this.#disturbances) {
      if (active.cleared) continue;
      const disturbance = active.disturb(call);
      if (disturbance === undefined) continue;
      active.hits++;
      if (disturbance.kind === "slow") {
        call.delayedBy = disturbance.delay;
        await new Promise((resolve) => setTimeout(resolve, disturbance.delay));
        break;
      }
      if (disturbance.kind === "tear" && tear !== undefined) {
        call.torn = true;
        await tear();
      }
      call.failedWith = disturbance.code;
      throw injectedError(disturbance.code, call);
    }
    return await forward();
  }

  #matches({ rule, hits, cleared }: ActiveRule, call: FsCall): boolean {
    if (cleared || hits >= (rule.times ?? Infinity) || rule.method !== call.method) return false;
    return rule.path(call.path) || (call.to !== undefined && rule.path(call.to));
  }
}

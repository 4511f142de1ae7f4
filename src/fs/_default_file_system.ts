import { BunFileSystem } from "./bun_file_system.ts";
import { DenoFileSystem } from "./deno_file_system.ts";
import type { FileSystemAdapter } from "./file_system.ts";
import { NodeFileSystem } from "./node_file_system.ts";
import { detectRuntime } from "./_runtime.ts";

/** The adapter for the running runtime; `node:fs` where the runtime is unknown. */
export function defaultFileSystem(): FileSystemAdapter {
  switch (detectRuntime()) {
    case "deno":
      return new DenoFileSystem();
    case "bun":
      return new BunFileSystem();
    default:
      return new NodeFileSystem();
  }
}

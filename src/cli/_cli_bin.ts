#!/usr/bin/env node
/**
 * The `jobq` command of the npm package (`npx jobq`, `bunx jobq`): runs
 * the command line of `cli.ts` always. npm starts a package's command
 * through a symbolic link in `node_modules/.bin/`, so `cli.ts` cannot tell
 * there, by the path it was started with, that it is the program.
 *
 * @module
 */
import { runAsProgram } from "./_cli_process.ts";
import { main } from "./cli.ts";

await runAsProgram(main);

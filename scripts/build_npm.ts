/**
 * Builds the npm package in `npm/` with TypeScript's compiler: ESM JavaScript
 * and `.d.ts` from the entry points of deno.json's `exports` (`mod.ts`, and
 * `src/cli/cli.ts` as `@x/jobq/cli`) and what they import, the `jobq` command
 * (`src/cli/_cli_bin.ts`, executable, its `#!` line kept), a `package.json` whose
 * `dependencies` are the npm packages `src/` imports (with the versions of
 * deno.json's import map) and whose optional `peerDependencies` are those only
 * one store imports ({@linkcode OPTIONAL_PEERS}: `postgres`, exact version),
 * README.md and LICENSE. Fails on any TypeScript
 * error, and when the public declarations need Node's types.
 *
 * With `--tests`, also compiles `tests/` to `npm/test/`, `scripts/demo.ts` and
 * the cluster demo's worker (`scripts/_cluster_worker.ts`) to `npm/scripts/`
 * and `examples/` to `npm/examples/` (none of them packed),
 * with the imports of the entry points pointed at the built package, and
 * links the package's dependencies into `npm/node_modules/`, so that Node
 * runs the suite against the JavaScript users get.
 *
 * Usage: `deno task build:npm [--tests]`
 *
 * @module
 */
import {
  chmod,
  copyFile,
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = join(root, "npm");
const esmDir = join(outDir, "esm");
const testsDir = join(root, "tests");
const modPath = join(root, "mod.ts");
/** The `jobq` command: always runs the CLI (npm starts it through a symbolic link). */
const binName = "jobq";
const binSource = join(root, "src", "cli", "_cli_bin.ts");

/** The npm description; the JSR one is the module doc of `mod.ts`. */
const description =
  "A persistent background job queue for Deno, Bun and Node, backed by one JSON file per job in a directory.";

/** What the JavaScript needs: Node 20 runs ES2022, and `Symbol.asyncDispose` exists there. */
const baseOptions = {
  target: "ES2022",
  module: "ES2022",
  moduleResolution: "Bundler",
  // DOM for the EventTarget and Event types the public API extends.
  lib: ["ES2022", "DOM", "ESNext.Disposable"],
  newLine: "lf",
};

/**
 * npm packages that only the modules under a folder of `src/` import: optional
 * peer dependencies, pinned to the import map's exact version, that users of
 * that module install themselves (and only they load).
 */
const OPTIONAL_PEERS: ReadonlyMap<string, string> = new Map([
  ["postgres", join(root, "src", "store", "postgres") + sep],
]);

/** Thrown for a failure whose message says everything; printed without a stack. */
class BuildError extends Error {
  override name = "BuildError";
}

interface DenoConfig {
  name: string;
  version: string;
  license: string;
  compilerOptions?: Record<string, unknown>;
  /** The import map: bare specifiers to `npm:` (or other) specifiers. */
  imports?: Record<string, string>;
  /** The entry points, by subpath (`"."`, `"./cli"`), as absolute paths of their sources. */
  entryPoints: Map<string, string>;
}

async function readDenoConfig(): Promise<DenoConfig> {
  const json = JSON.parse(await readFile(join(root, "deno.json"), "utf8"));
  for (const key of ["name", "version", "license"] as const) {
    if (typeof json[key] !== "string" || json[key] === "") {
      throw new BuildError(`deno.json has no '${key}': the npm package needs it`);
    }
  }
  const exports: unknown = typeof json.exports === "string" ? { ".": json.exports } : json.exports;
  const entryPoints = new Map<string, string>();
  for (const [subpath, path] of Object.entries(exports ?? {})) {
    if (typeof path !== "string" || !path.endsWith(".ts") || !path.startsWith("./")) {
      throw new BuildError(
        `deno.json's exports['${subpath}'] must be a relative path of a .ts file, not ${
          JSON.stringify(path)
        }`,
      );
    }
    entryPoints.set(subpath, join(root, path));
  }
  if (entryPoints.get(".") !== modPath) {
    throw new BuildError(`deno.json's exports must map "." to "./mod.ts"`);
  }
  return { ...json, entryPoints };
}

/** Converts tsconfig-style JSON options, failing on any option TypeScript rejects. */
function compilerOptions(json: Record<string, unknown>): ts.CompilerOptions {
  const { options, errors } = ts.convertCompilerOptionsFromJson(json, root);
  if (errors.length > 0) throw new BuildError(formatDiagnostics(errors));
  return options;
}

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[]): string {
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (fileName) => fileName,
    getCurrentDirectory: () => root,
    getNewLine: () => "\n",
  };
  return !Deno.noColor && Deno.stderr.isTerminal()
    ? ts.formatDiagnosticsWithColorAndContext(diagnostics, host)
    : ts.formatDiagnostics(diagnostics, host);
}

function failOnDiagnostics(diagnostics: readonly ts.Diagnostic[], what: string): void {
  if (diagnostics.length === 0) return;
  throw new BuildError(
    `TypeScript reported ${diagnostics.length} error(s) ${what}:\n\n${
      formatDiagnostics(diagnostics)
    }`,
  );
}

/**
 * Compiles the entry points, the `jobq` command and everything they import
 * to `npm/esm/`; throws on any diagnostic. Returns the compiled sources.
 */
function compilePackage(config: DenoConfig): string[] {
  const options = compilerOptions({
    ...config.compilerOptions,
    ...baseOptions,
    rootDir: root,
    outDir: esmDir,
    declaration: true,
    rewriteRelativeImportExtensions: true,
    isolatedModules: true,
    noEmitOnError: true,
    // Node's types (for the node: imports), from node_modules/ (deno.json: "nodeModulesDir").
    types: ["node"],
    typeRoots: [join(root, "node_modules", "@types")],
    skipLibCheck: true,
  });
  const program = ts.createProgram({
    rootNames: [...config.entryPoints.values(), binSource],
    options,
  });
  failOnDiagnostics(ts.getPreEmitDiagnostics(program), "in mod.ts and src/");
  const emitted = program.emit(undefined, undefined, undefined, false, {
    afterDeclarations: [declarationsWithJsExtensions],
  });
  failOnDiagnostics(emitted.diagnostics, "while writing npm/esm/");
  if (emitted.emitSkipped) throw new BuildError("TypeScript wrote nothing to npm/esm/");
  return program.getSourceFiles()
    .map((file) => file.fileName)
    .filter((fileName) => !fileName.includes("/node_modules/"));
}

/**
 * Type-checks the emitted declarations without Node's types, so that the
 * public API cannot name a Node-only type (`NodeJS.Timeout`, `Buffer`, a
 * `node:` module) that users without `@types/node` could not resolve.
 */
function checkPublicDeclarations(config: DenoConfig): void {
  // NodeNext: the strictest resolution users have; it needs `.js` specifiers and package.json.
  const options = compilerOptions({
    ...baseOptions,
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    noEmit: true,
    types: [],
    skipLibCheck: false,
    skipDefaultLibCheck: true,
  });
  const program = ts.createProgram({
    rootNames: [...config.entryPoints.values()].map(emittedDeclaration),
    options,
  });
  failOnDiagnostics(
    ts.getPreEmitDiagnostics(program),
    "in npm/esm/ declarations without @types/node: keep Node-only types out of the public API",
  );
}

/** Lists the files under `directory`, recursively, as absolute paths. */
async function walk(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const files = await Promise.all(entries.map((entry) => {
    const path = join(directory, entry.name);
    return entry.isDirectory() ? walk(path) : Promise.resolve(entry.isFile() ? [path] : []);
  }));
  return files.flat().sort();
}

/** Relative imports that still end in `.ts` fail in Node and older TypeScript: a safety net. */
async function checkEmittedImports(directory: string): Promise<void> {
  const tsImport = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']*\.ts)["']/g;
  for (const file of await walk(directory)) {
    if (!file.endsWith(".js") && !file.endsWith(".d.ts")) continue;
    const text = await readFile(file, "utf8");
    for (const [, specifier] of text.matchAll(tsImport)) {
      throw new BuildError(
        `${relative(root, file)} imports '${specifier}', which Node cannot load: ` +
          "write relative imports as string literals so that they are rewritten to .js",
      );
    }
  }
}

/** Where the JavaScript compiled from `source` lands. */
function emittedJavaScript(source: string): string {
  return join(esmDir, relative(root, source)).replace(/\.ts$/, ".js");
}

/** Where the declarations compiled from `source` land. */
function emittedDeclaration(source: string): string {
  return join(esmDir, relative(root, source)).replace(/\.ts$/, ".d.ts");
}

/** `./esm/…` for package.json. */
function packagePath(path: string): string {
  return "./" + relative(outDir, path).split(sep).join("/");
}

/**
 * The `jobq` command must start with its `#!` line (TypeScript keeps it) and
 * be executable, for running it directly; npm also marks it executable when
 * it installs the package.
 */
async function prepareBin(): Promise<string> {
  const path = emittedJavaScript(binSource);
  const text = await readFile(path, "utf8");
  if (!text.startsWith("#!/usr/bin/env node\n")) {
    throw new BuildError(
      `${relative(root, path)} does not start with '#!/usr/bin/env node': ` +
        `keep that line first in ${relative(root, binSource)}`,
    );
  }
  await chmod(path, 0o755);
  return path;
}

/** The specifiers a module imports, re-exports or loads with `import()`. */
function specifiersOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((file) => file.fileName);
}

/**
 * The bare specifiers (not relative, not `node:`) that `roots` and the
 * modules they import, transitively, import, with the modules that import
 * each: what the package needs from npm, known before compiling.
 */
async function bareImports(roots: string[]): Promise<Map<string, string[]>> {
  const bare = new Map<string, string[]>();
  const seen = new Set<string>();
  const queue = [...roots];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of specifiersOf(await readFile(file, "utf8"))) {
      if (specifier.startsWith(".")) queue.push(resolve(dirname(file), specifier));
      else if (!specifier.startsWith("node:")) {
        bare.set(specifier, [...bare.get(specifier) ?? [], file]);
      }
    }
  }
  return bare;
}

/** What the package needs from npm, with version ranges. */
interface NpmDependencies {
  /** Installed with the package: `"croner": "^9.0.0"`. */
  dependencies: Record<string, string>;
  /** Installed by users who need them: {@linkcode OPTIONAL_PEERS}, exact versions. */
  optionalPeers: Record<string, string>;
}

/**
 * The npm packages the package's sources import, with the version ranges
 * of deno.json's import map: `"croner": "npm:croner@9"` becomes
 * `"croner": "^9.0.0"`; an optional peer keeps its exact version. Refuses
 * bare specifiers the import map does not map to an npm package of the same
 * name, which Node could not resolve, and optional peers imported outside
 * their folder, which would load them for every user.
 */
async function npmDependencies(config: DenoConfig): Promise<NpmDependencies> {
  const dependencies: Record<string, string> = {};
  const optionalPeers: Record<string, string> = {};
  const imports = await bareImports([...config.entryPoints.values(), binSource]);
  for (const [specifier, sources] of imports) {
    const name = packageNameOf(specifier);
    const target = config.imports?.[name];
    const match = target?.match(/^npm:(@?[^@]+)@([^/]+)$/);
    if (match === null || match === undefined || match[1] !== name) {
      throw new BuildError(
        `${relative(root, sources[0]!)} imports '${specifier}', but deno.json's import map does ` +
          `not map '${name}' to "npm:${name}@<version>"${
            target === undefined ? "" : ` (it maps it to ${JSON.stringify(target)})`
          }: the npm package could not depend on it`,
      );
    }
    const folder = OPTIONAL_PEERS.get(name);
    if (folder === undefined) {
      dependencies[name] = caretRange(match[2]!);
      continue;
    }
    const outside = sources.find((source) => !source.startsWith(folder));
    if (outside !== undefined) {
      throw new BuildError(
        `${relative(root, outside)} imports '${specifier}', an optional peer dependency that ` +
          `only ${relative(root, folder)}/ may import: every user would need it`,
      );
    }
    optionalPeers[name] = match[2]!;
  }
  return { dependencies: sorted(dependencies), optionalPeers: sorted(optionalPeers) };
}

function sorted(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a < b ? -1 : 1));
}

/** `croner/foo` → `croner`, `@scope/name/foo` → `@scope/name`. */
function packageNameOf(specifier: string): string {
  return specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/");
}

/** `9` → `^9.0.0`, `9.1` → `^9.1.0`, `9.1.2` → `^9.1.2`; ranges (`^9.1`, `~9`, `>=9`) as they are. */
function caretRange(version: string): string {
  const parts = version.match(/^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/);
  if (parts === null) return version;
  return `^${parts[1]}.${parts[2] ?? 0}.${parts[3] ?? 0}`;
}

/**
 * Makes sure each dependency is in the repository's `node_modules/` (Deno
 * puts the import map's npm packages there: deno.json's `nodeModulesDir`),
 * where TypeScript resolved them and where Node finds them from `npm/`;
 * runs `deno install` once if one is missing.
 */
async function ensureInstalled(dependencies: Record<string, string>): Promise<void> {
  const missing = async () => {
    const names: string[] = [];
    for (const name of Object.keys(dependencies)) {
      if (!await exists(join(root, "node_modules", name, "package.json"))) names.push(name);
    }
    return names;
  };
  if ((await missing()).length === 0) return;
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["install"],
    cwd: root,
    stdin: "null",
  }).output();
  const still = await missing();
  if (code !== 0 || still.length > 0) {
    throw new BuildError(
      `${still.join(", ")} is not in node_modules/ and 'deno install' could not put it there ` +
        "(exit code " + code + "): run 'deno install' and look at its output",
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return false;
    throw error;
  }
}

/**
 * Links each dependency into `npm/node_modules/`, as an install of the
 * package would provide it, for Node to run the compiled tests with.
 */
async function linkDependencies(dependencies: Record<string, string>): Promise<void> {
  for (const name of Object.keys(dependencies)) {
    const link = join(outDir, "node_modules", name);
    await mkdir(dirname(link), { recursive: true });
    await symlink(relative(dirname(link), join(root, "node_modules", name)), link, "dir");
  }
}

async function writePackageJson(
  config: DenoConfig,
  bin: string,
  { dependencies, optionalPeers }: NpmDependencies,
): Promise<void> {
  const exports = Object.fromEntries(
    [...config.entryPoints].map(([subpath, source]) => [subpath, {
      types: packagePath(emittedDeclaration(source)),
      import: packagePath(emittedJavaScript(source)),
    }]),
  );
  const packageJson = {
    name: config.name,
    version: config.version,
    description,
    license: config.license,
    type: "module",
    exports,
    types: packagePath(emittedDeclaration(modPath)),
    bin: { [binName]: packagePath(bin) },
    ...(Object.keys(dependencies).length > 0 ? { dependencies } : {}),
    ...(Object.keys(optionalPeers).length > 0
      ? {
        peerDependencies: optionalPeers,
        peerDependenciesMeta: Object.fromEntries(
          Object.keys(optionalPeers).map((name) => [name, { optional: true }]),
        ),
      }
      : {}),
    engines: { node: ">=20" },
    // npm adds package.json, README.md and LICENSE by itself.
    files: ["esm/**/*.js", "esm/**/*.d.ts"],
  };
  await writeFile(join(outDir, "package.json"), JSON.stringify(packageJson, null, 2) + "\n");
}

async function copyDocuments(): Promise<void> {
  for (const name of ["README.md", "LICENSE"]) {
    try {
      await copyFile(join(root, name), join(outDir, name));
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ENOENT") throw error;
      throw new BuildError(`${name} is missing: the npm package must ship it`);
    }
  }
}

/**
 * A transformer that passes every module specifier written as a string
 * literal (imports, re-exports, `import()` calls and `import("…")` types)
 * through `map`.
 */
function mapSpecifiers<T extends ts.Node>(
  map: (specifier: string) => string,
): ts.TransformerFactory<T> {
  return (context) => {
    const { factory } = context;
    const literal = <E extends ts.Node>(node: E): E => {
      if (!ts.isStringLiteral(node)) return node;
      const mapped = map(node.text);
      return (mapped === node.text ? node : factory.createStringLiteral(mapped)) as ts.Node as E;
    };
    const visit = (node: ts.Node): ts.Node => {
      if (ts.isImportDeclaration(node)) {
        return factory.updateImportDeclaration(
          node,
          node.modifiers,
          node.importClause,
          literal(node.moduleSpecifier),
          node.attributes,
        );
      }
      if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
        return factory.updateExportDeclaration(
          node,
          node.modifiers,
          node.isTypeOnly,
          node.exportClause,
          literal(node.moduleSpecifier),
          node.attributes,
        );
      }
      if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
        return factory.updateImportTypeNode(
          node,
          factory.updateLiteralTypeNode(node.argument, literal(node.argument.literal)),
          node.attributes,
          node.qualifier,
          node.typeArguments,
          node.isTypeOf,
        );
      }
      if (
        ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] !== undefined
      ) {
        return factory.updateCallExpression(node, node.expression, node.typeArguments, [
          literal(node.arguments[0]),
          ...node.arguments.slice(1),
        ]);
      }
      return ts.visitEachChild(node, visit, context);
    };
    return (node) => ts.isSourceFile(node) ? ts.visitEachChild(node, visit, context) as T : node;
  };
}

/** `rewriteRelativeImportExtensions` leaves `.ts` in declarations: make them `.js` there too. */
const declarationsWithJsExtensions = mapSpecifiers<ts.SourceFile | ts.Bundle>((specifier) =>
  specifier.startsWith(".") ? specifier.replace(/\.ts$/, ".js") : specifier
);

/**
 * Points imports of the repository's entry points (`mod.ts`, `src/cli/cli.ts`)
 * at the built package by its name (`@x/jobq`, `@x/jobq/cli`: Node resolves
 * a package's own name from inside it), and refuses any other import that
 * leaves `ownDir`: tests, the demo and the examples see jobq only as users
 * do.
 */
function testImports(
  fileName: string,
  config: DenoConfig,
  ownDir: string,
): ts.TransformerFactory<ts.SourceFile> {
  return mapSpecifiers((specifier) => {
    if (!specifier.startsWith(".")) return specifier;
    const target = resolve(dirname(fileName), specifier);
    for (const [subpath, source] of config.entryPoints) {
      if (target === source) return config.name + subpath.slice(1);
    }
    if (target.startsWith(ownDir + sep)) return specifier;
    throw new BuildError(
      `${relative(root, fileName)} imports '${specifier}': it may import jobq only ` +
        `from its entry points (${
          [...config.entryPoints.values()].map((path) => relative(root, path)).join(", ")
        }; under Node it runs against the npm build), and other files of ${
          relative(root, ownDir)
        }/`,
    );
  });
}

/**
 * Transpiles `tests/` (tests, helpers, fixtures) to `npm/test/`, keeping its
 * layout so that `spawnFixture()` finds the `.js` fixtures, the demos' scripts to
 * `npm/scripts/` and `examples/` (if any) to `npm/examples/`, where their
 * tests look for them; other files are copied. Types are checked by
 * `deno check`; this only strips them.
 */
async function compileTests(config: DenoConfig): Promise<string[]> {
  const options = compilerOptions({ ...baseOptions, rewriteRelativeImportExtensions: true });
  const sources = (await walk(testsDir)).map((file) => ({
    file,
    target: join(outDir, "test", relative(testsDir, file)),
    ownDir: testsDir,
  }));
  for (const script of ["demo.ts", "_cluster_worker.ts"]) {
    sources.push({
      file: join(root, "scripts", script),
      target: join(outDir, "scripts", script),
      ownDir: join(root, "scripts"),
    });
  }
  const examplesDir = join(root, "examples");
  if (await exists(examplesDir)) {
    for (const file of await walk(examplesDir)) {
      sources.push({
        file,
        target: join(outDir, "examples", relative(examplesDir, file)),
        ownDir: examplesDir,
      });
    }
  }
  const written: string[] = [];
  for (const { file, target, ownDir } of sources) {
    await mkdir(dirname(target), { recursive: true });
    if (!file.endsWith(".ts")) {
      await copyFile(file, target);
      continue;
    }
    const output = ts.transpileModule(await readFile(file, "utf8"), {
      compilerOptions: options,
      fileName: file,
      reportDiagnostics: true,
      transformers: { before: [testImports(file, config, ownDir)] },
    });
    failOnDiagnostics(output.diagnostics ?? [], `in ${relative(root, file)}`);
    const jsTarget = target.replace(/\.ts$/, ".js");
    await writeFile(jsTarget, output.outputText);
    written.push(jsTarget);
  }
  await checkEmittedImports(join(outDir, "test"));
  await checkEmittedImports(join(outDir, "scripts"));
  if (await exists(join(outDir, "examples"))) await checkEmittedImports(join(outDir, "examples"));
  return written;
}

async function main(args: string[]): Promise<void> {
  const withTests = args.includes("--tests");
  const unknown = args.filter((arg) => arg !== "--tests");
  if (unknown.length > 0) {
    throw new BuildError(`Unknown argument(s) ${unknown.join(" ")}; usage: build_npm.ts [--tests]`);
  }
  const started = performance.now();
  const config = await readDenoConfig();
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const dependencies = await npmDependencies(config);
  // Tests use the optional peers too: both are installed and linked.
  const everything = { ...dependencies.dependencies, ...dependencies.optionalPeers };
  await ensureInstalled(everything);
  const sources = compilePackage(config);
  await checkEmittedImports(esmDir);
  await writePackageJson(config, await prepareBin(), dependencies);
  await copyDocuments();
  checkPublicDeclarations(config);
  let summary = `${sources.length} source files`;
  if (withTests) {
    await linkDependencies(everything);
    summary += `, ${(await compileTests(config)).length} test files`;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`Built ${config.name}@${config.version} in npm/ (${summary}) in ${seconds} s`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(
      error instanceof BuildError ? `npm build failed: ${error.message}` : error,
    );
    Deno.exit(1);
  }
}

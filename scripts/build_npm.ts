/**
 * Builds the npm package in `npm/` with TypeScript's compiler: ESM JavaScript
 * and `.d.ts` from `mod.ts` and `src/`, a `package.json`, README.md and
 * LICENSE. Fails on any TypeScript error, and when the public declarations
 * need Node's types.
 *
 * With `--tests`, also compiles `tests/` to `npm/test/` (not packed), with
 * the imports of `mod.ts` pointed at the built package, so that Node runs the
 * suite against the JavaScript users get.
 *
 * Usage: `deno task build:npm [--tests]`
 *
 * @module
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = join(root, "npm");
const esmDir = join(outDir, "esm");
const testsDir = join(root, "tests");
const modPath = join(root, "mod.ts");

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

/** Thrown for a failure whose message says everything; printed without a stack. */
class BuildError extends Error {
  override name = "BuildError";
}

interface DenoConfig {
  name: string;
  version: string;
  license: string;
  compilerOptions?: Record<string, unknown>;
}

async function readDenoConfig(): Promise<DenoConfig> {
  const config = JSON.parse(await readFile(join(root, "deno.json"), "utf8")) as DenoConfig;
  for (const key of ["name", "version", "license"] as const) {
    if (typeof config[key] !== "string" || config[key] === "") {
      throw new BuildError(`deno.json has no '${key}': the npm package needs it`);
    }
  }
  return config;
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

/** Compiles `mod.ts` and everything it imports to `npm/esm/`; throws on any diagnostic. */
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
  const program = ts.createProgram({ rootNames: [modPath], options });
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
function checkPublicDeclarations(): void {
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
  const program = ts.createProgram({ rootNames: [join(esmDir, "mod.d.ts")], options });
  failOnDiagnostics(
    ts.getPreEmitDiagnostics(program),
    "in npm/esm/mod.d.ts without @types/node: keep Node-only types out of the public API",
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

async function writePackageJson(config: DenoConfig): Promise<void> {
  const packageJson = {
    name: config.name,
    version: config.version,
    description,
    license: config.license,
    type: "module",
    exports: {
      ".": {
        types: "./esm/mod.d.ts",
        import: "./esm/mod.js",
      },
    },
    types: "./esm/mod.d.ts",
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
 * Points imports of the repository's `mod.ts` at the built package by its
 * name (Node resolves a package's own name from inside it), and refuses any
 * other import that leaves `ownDir`: tests and the demo see jobq only as
 * users do.
 */
function testImports(
  fileName: string,
  packageName: string,
  ownDir: string,
): ts.TransformerFactory<ts.SourceFile> {
  return mapSpecifiers((specifier) => {
    if (!specifier.startsWith(".")) return specifier;
    const target = resolve(dirname(fileName), specifier);
    if (target === modPath) return packageName;
    if (target.startsWith(ownDir + sep)) return specifier;
    throw new BuildError(
      `${relative(root, fileName)} imports '${specifier}': it may import jobq only ` +
        `from mod.ts (under Node it runs against the npm build), and other files of ${
          relative(root, ownDir)
        }/`,
    );
  });
}

/**
 * Transpiles `tests/` (tests, helpers, fixtures) to `npm/test/`, keeping its
 * layout so that `spawnFixture()` finds the `.js` fixtures, and the demo to
 * `npm/scripts/`, where its test looks for it; other files are copied.
 * Types are checked by `deno check`; this only strips them.
 */
async function compileTests(packageName: string): Promise<string[]> {
  const options = compilerOptions({ ...baseOptions, rewriteRelativeImportExtensions: true });
  const sources = (await walk(testsDir)).map((file) => ({
    file,
    target: join(outDir, "test", relative(testsDir, file)),
    ownDir: testsDir,
  }));
  sources.push({
    file: join(root, "scripts", "demo.ts"),
    target: join(outDir, "scripts", "demo.ts"),
    ownDir: join(root, "scripts"),
  });
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
      transformers: { before: [testImports(file, packageName, ownDir)] },
    });
    failOnDiagnostics(output.diagnostics ?? [], `in ${relative(root, file)}`);
    const jsTarget = target.replace(/\.ts$/, ".js");
    await writeFile(jsTarget, output.outputText);
    written.push(jsTarget);
  }
  await checkEmittedImports(join(outDir, "test"));
  await checkEmittedImports(join(outDir, "scripts"));
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
  const sources = compilePackage(config);
  await checkEmittedImports(esmDir);
  await writePackageJson(config);
  await copyDocuments();
  checkPublicDeclarations();
  let summary = `${sources.length} source files`;
  if (withTests) summary += `, ${(await compileTests(config.name)).length} test files`;
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

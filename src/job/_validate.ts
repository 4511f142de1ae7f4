/**
 * Method names become part of file names, so they are held to a strict
 * alphabet: no path separators, no leading dot, nothing a file system or a
 * shell treats specially.
 */
const METHOD_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Throws a `TypeError` unless `methodName` can name a job file safely. */
export function assertMethodName(methodName: unknown): asserts methodName is string {
  if (typeof methodName !== "string") {
    throw new TypeError(
      `Cannot use the method name: it must be a string, but it is ${describe(methodName)}`,
    );
  }
  if (!METHOD_NAME_PATTERN.test(methodName)) {
    throw new TypeError(
      `Cannot use the method name ${JSON.stringify(methodName)}: use 1 to 128 ` +
        "letters, digits, '_', '.' or '-', starting with a letter or digit",
    );
  }
}

/**
 * Throws a `TypeError` unless `value` survives `JSON.stringify` and
 * `JSON.parse` unchanged, so that a handler receives exactly what was
 * scheduled. Object properties whose value is `undefined` are allowed and
 * dropped, as JSON does; everything else that JSON would change is refused.
 */
export function assertJsonFaithful(value: unknown, what = "params"): void {
  try {
    visit(value, what, new Set());
  } catch (error) {
    // JSON.parse accepts nesting deeper than a recursive walk can follow.
    if (!(error instanceof RangeError)) throw error;
    throw new TypeError(
      `Cannot store ${what}: they nest too deeply to check; flatten them`,
      { cause: error },
    );
  }
}

function visit(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) {
        refuse(path, `is ${value}, which JSON turns into null`, "use a finite number or a string");
      }
      if (Object.is(value, -0)) {
        refuse(path, "is -0, which JSON turns into 0", "use 0");
      }
      return;
    case "bigint":
      refuse(path, "is a BigInt, which JSON cannot hold", "convert it to a string");
      return;
    case "undefined":
      refuse(path, "is undefined, which JSON turns into null here", "use null");
      return;
    case "function":
    case "symbol":
      refuse(path, `is a ${typeof value}, which JSON cannot hold`, "pass plain data instead");
      return;
  }
  if (value === null) return;
  const object = value as object;
  if (ancestors.has(object)) {
    refuse(path, "refers back to itself (a cycle)", "pass a tree of plain data");
  }
  ancestors.add(object);
  if (Array.isArray(object)) {
    for (let index = 0; index < object.length; index++) {
      if (!(index in object)) {
        refuse(`${path}[${index}]`, "is a hole in a sparse array", "fill it with null");
      }
      visit(object[index], `${path}[${index}]`, ancestors);
    }
  } else {
    const prototype = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) {
      const name = (object.constructor as { name?: string } | undefined)?.name ?? "object";
      refuse(
        path,
        `is a ${name}, which JSON would turn into a plain object or a string`,
        "convert it to plain data (a Date to its getTime() or toISOString())",
      );
    }
    if (Object.getOwnPropertySymbols(object).length > 0) {
      refuse(path, "has symbol keys, which JSON drops", "use string keys");
    }
    for (const [key, child] of Object.entries(object)) {
      if (child !== undefined) visit(child, `${path}.${key}`, ancestors);
    }
  }
  ancestors.delete(object);
}

function refuse(path: string, problem: string, remedy: string): never {
  throw new TypeError(`Cannot store ${path}: it ${problem}; ${remedy}`);
}

/**
 * Whether `text` is well-formed UTF-16: no lone surrogate, which UTF-8
 * cannot encode (it becomes U+FFFD, so distinct strings would encode alike).
 * `String.prototype.isWellFormed` does this, but Node 20 lacks it.
 */
export function isWellFormed(text: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return `of type ${typeof value}`;
}

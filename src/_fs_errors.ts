/** Tells whether an error from a file-system adapter means "no such file". */
export function isNotFound(error: unknown): boolean {
  return errorCode(error) === "ENOENT";
}

/** Tells whether an error from a file-system adapter means "file exists". */
export function isAlreadyExists(error: unknown): boolean {
  return errorCode(error) === "EEXIST";
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

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

/**
 * Tells whether an adapter refused to read a file for what it is, not for a
 * passing fault: a symbolic link (`"ELOOP"`), not a regular file
 * (`"EFTYPE"`), or larger than asked (`"EFBIG"`).
 */
export function isRefusedFile(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ELOOP" || code === "EFTYPE" || code === "EFBIG";
}

/** An error as the runtimes' own file-system errors look: a message and a POSIX `code`. */
export function codedError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * Checks of the number options shared by the engine and the stores, with
 * the messages of a `RangeError` that says what the option must be.
 */

/** `value`, when it is a positive, finite number of milliseconds. */
export function positiveMilliseconds(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Cannot set '${name}' as it must be a positive number of milliseconds: current value is ${
        String(value)
      }`,
    );
  }
  return value;
}

/** `value`, when it is a positive integer or `Infinity`. */
export function positiveCount(name: string, value: number): number {
  if (!(value === Infinity || (Number.isSafeInteger(value) && value >= 1))) {
    throw new RangeError(
      `Cannot set '${name}' as it must be a positive integer or Infinity: current value is ${
        String(value)
      }`,
    );
  }
  return value;
}

/** `value`, when it is permission bits from 0o600 to 0o777 that let the owner read and write. */
export function fileMode(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0o777 || (value & 0o600) !== 0o600) {
    throw new RangeError(
      "Cannot set 'fileMode' as it must be permission bits from 0o600 to 0o777 that let the " +
        `owner read and write: current value is ${
          typeof value === "number" && Number.isInteger(value) && value >= 0
            ? `0o${value.toString(8)}`
            : String(value)
        }`,
    );
  }
  return value;
}

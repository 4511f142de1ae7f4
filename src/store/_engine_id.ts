/** Engine ids: what `StoreEngine.engineId` must look like, so that stores may name files by it. */
export const ENGINE_ID_PATTERN: RegExp = /^[0-9a-f]{16}$/;

/** A new engine id: 16 random hex digits. */
export function createEngineId(): string {
  return randomHex() + randomHex();
}

function randomHex(): string {
  return crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16).padStart(8, "0");
}

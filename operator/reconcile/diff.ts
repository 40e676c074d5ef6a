// Desired versus actual objects. Pure. The operator writes only when these say something
// differs, so a steady state makes no apiserver writes (each resync compares and moves on).

/**
 * Whether every field set in `desired` has the same value in `actual`. Fields only `actual`
 * has (defaults, other managers' fields, status) do not matter. Arrays must match element by
 * element, each element as a subset.
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') return desired === actual;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(actual) &&
      desired.length === actual.length &&
      desired.every((d, i) => isSubset(d, actual[i]))
    );
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, a[k]));
}

/** Deep equality of JSON values, ignoring key order and undefined fields. */
export function sameJson(a: unknown, b: unknown): boolean {
  return isSubset(a, b) && isSubset(b, a);
}

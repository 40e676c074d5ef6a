// Option checking for every component: each component writes its options once, as a table of
// fields with a default and a rule (type and bounds); `resolve` spreads the defaults first, then
// checks every field, and every error has one wording that names the field:
// "publish.maxBatchRows must be an integer >= 1, got 0". Pure; unit-tested.

/** A value that breaks its option's rule. A RangeError, so callers may catch either. */
export class OptionsError extends RangeError {
  override readonly name = 'OptionsError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field} ${problem}`);
  }
}

/** What a value must be: `describe` completes "<field> must be ...". */
export interface Rule {
  describe: string;
  ok(value: unknown): boolean;
}

export function int(min: number, max = Number.MAX_SAFE_INTEGER): Rule {
  return {
    describe: max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in ${min}..${max}`,
    ok: (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max,
  };
}

/** A finite number in [min, max], or in (above, max] when `above` is given. */
export function num(bounds: { min?: number; above?: number; max?: number }): Rule {
  const { min = -Infinity, above, max = Infinity } = bounds;
  const low = above !== undefined ? `(${above}` : `[${min}`;
  const describe =
    max === Infinity
      ? `a number ${above !== undefined ? `> ${above}` : `>= ${min}`}`
      : `a number in ${low}, ${max}]`;
  return {
    describe,
    ok: (v) =>
      typeof v === 'number' && Number.isFinite(v) && v <= max && (above !== undefined ? v > above : v >= min),
  };
}

export const bool: Rule = { describe: 'true or false', ok: (v) => typeof v === 'boolean' };

export const nonEmpty: Rule = {
  describe: 'a non-empty string',
  ok: (v) => typeof v === 'string' && v !== '',
};

export const hostPort: Rule = {
  describe: 'host:port',
  ok: (v) => typeof v === 'string' && /^[^\s:]+:\d{1,5}$/.test(v),
};

export function oneOf(...values: readonly string[]): Rule {
  return { describe: `one of ${values.join(', ')}`, ok: (v) => values.includes(v as string) };
}

export function matches(pattern: RegExp, describe: string): Rule {
  return { describe, ok: (v) => typeof v === 'string' && pattern.test(v) };
}

/** Throws OptionsError unless `value` keeps `rule`. */
export function check(field: string, value: unknown, rule: Rule): void {
  if (rule.ok(value)) return;
  const got = typeof value === 'number' ? String(value) : JSON.stringify(value);
  throw new OptionsError(field, `must be ${rule.describe}, got ${got}`);
}

/** One option: its default and its rule. */
export interface Field<V> {
  default: V;
  rule: Rule;
}

export function field<V>(defaultValue: V, rule: Rule): Field<V> {
  return { default: defaultValue, rule };
}

/** The options of one section, each written once. */
export type Table<T> = { [K in keyof T]: Field<T[K]> };

/** The defaults of a table. */
export function defaults<T>(table: Table<T>): T {
  const out = {} as T;
  for (const k of Object.keys(table) as (keyof T)[]) out[k] = table[k].default;
  return out;
}

/**
 * A section's options: defaults first, then what `input` sets for the table's fields (undefined
 * counts as unset; other keys are not taken), each field checked, its error naming
 * `prefix.field`.
 */
export function resolve<T>(prefix: string, table: Table<T>, input: Partial<T> | undefined): T {
  const out = defaults(table);
  for (const k of Object.keys(table) as (keyof T & string)[]) {
    if (input?.[k] !== undefined) out[k] = input[k];
    check(prefix === '' ? k : `${prefix}.${k}`, out[k], table[k].rule);
  }
  return out;
}

/**
 * Run-time checks that carry the TypeScript type they establish, so a message's type and its
 * validation come from one definition (shared/protocol.ts derives both from a table of these).
 */

/** A type guard with a phrase saying what it accepts, for errors ("a whole number >= 0"). */
export interface Check<T> {
  readonly what: string;
  readonly is: (value: unknown) => value is T;
  /** A record's own fields, so a failure can be named down to the innermost field. */
  readonly fields?: Fields;
}

/** Named fields, each with its check. */
export type Fields = Record<string, Check<unknown>>;

/** The type a check establishes. */
export type Checked<C> = C extends Check<infer T> ? T : never;

/** The record type of a table of fields. */
export type RecordOf<F extends Fields> = { [K in keyof F]: Checked<F[K]> };

function check<T>(what: string, is: (value: unknown) => boolean): Check<T> {
  return { what, is: is as (value: unknown) => value is T };
}

export const text = check<string>('a string', (v) => typeof v === 'string');
export const flag = check<boolean>('a boolean', (v) => typeof v === 'boolean');
export const finite = check<number>('a finite number', (v) => typeof v === 'number' && Number.isFinite(v));
/** Any number, NaN and infinities included (a diverged loss is still a report). */
export const anyNumber = check<number>('a number', (v) => typeof v === 'number');
export const integer = check<number>('an integer', (v) => Number.isSafeInteger(v));
/** A count or an index. */
export const count = check<number>('a whole number >= 0', (v) => Number.isSafeInteger(v) && (v as number) >= 0);

/** Absent, or a value that passes `c` (a record's optional field). */
export function optional<T>(c: Check<T>): Check<T | undefined> {
  return check(`absent or ${c.what}`, (v) => v === undefined || c.is(v));
}

/** A value that passes one of `checks`. */
export function either<C extends Check<unknown>[]>(...checks: C): Check<Checked<C[number]>> {
  return check(checks.map((c) => c.what).join(', or '), (v) => checks.some((c) => c.is(v)));
}

/** An array of exactly `length` items, each passing `item`. */
export function tupleOf<T>(item: Check<T>, length: number): Check<T[]> {
  return check(`${length} items, each ${item.what}`, (v) => Array.isArray(v) && v.length === length && v.every((x) => item.is(x)));
}

/** One of a fixed list of strings. */
export function oneOf<V extends string>(values: readonly V[]): Check<V> {
  return check(`one of ${values.join(', ')}`, (v) => (values as readonly unknown[]).includes(v));
}

/** An array whose every item passes `item`. */
export function arrayOf<T>(item: Check<T>): Check<T[]> {
  return check(`an array, each item ${item.what}`, (v) => Array.isArray(v) && v.every((x) => item.is(x)));
}

/** null, or a value that passes `c`. */
export function nullable<T>(c: Check<T>): Check<T | null> {
  return check(`null or ${c.what}`, (v) => v === null || c.is(v));
}

/** A map (plain object), whatever it holds. */
export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a map fails its fields' checks: the dotted path of the innermost failing field and what it must be. */
export interface FieldFailure {
  path: string;
  what: string;
}

/** The first field of `value` that fails its check (named inside nested records), or null when all pass. */
export function failingField(fields: Fields, value: Record<string, unknown>): FieldFailure | null {
  for (const [name, c] of Object.entries(fields)) {
    if (c.is(value[name])) continue;
    const inner = c.fields && isMap(value[name]) ? failingField(c.fields, value[name]) : null;
    return inner ? { path: `${name}.${inner.path}`, what: inner.what } : { path: name, what: c.what };
  }
  return null;
}

/** A map whose named fields pass their checks (other fields are allowed); `what` names it in errors. */
export function record<F extends Fields>(fields: F, what?: string): Check<RecordOf<F>> {
  const parts = Object.entries(fields).map(([name, c]) => `${name} (${c.what})`);
  const c = check<RecordOf<F>>(what ?? `a map with ${parts.join(', ')}`, (v) => isMap(v) && failingField(fields, v) === null);
  return { ...c, fields };
}

/**
 * Commander argument parsers for every command's flags. Each turns the flag's text into its typed
 * value or throws commander's InvalidArgumentError naming the flag and the text it got.
 */
import { InvalidArgumentError, Option } from 'commander';
import { BACKEND_CHOICES, DEFAULTS, LR_SUGGESTIONS, type LrSuggestionName } from '../shared/config';

/** A number that satisfies `ok`; `what` says which numbers do, for the error. */
export function numberFlag(flag: string, ok: (v: number) => boolean, what: string): (text: string) => number {
  return (text) => {
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new InvalidArgumentError(`${flag} must be ${what}, got '${text}'`);
    return v;
  };
}

/** A whole number >= min. */
export const wholeFlag = (flag: string, min: number) =>
  numberFlag(flag, (v) => Number.isInteger(v) && v >= min, `a whole number >= ${min}`);

/** A number > 0. */
export const positiveFlag = (flag: string) => numberFlag(flag, (v) => v > 0, 'a positive number');

/** Any integer. */
export const integerFlag = (flag: string) => numberFlag(flag, Number.isInteger, 'an integer');

/** A parser from elsewhere (shared/ throws plain errors, which name the flag themselves), as a commander one. */
export function flagParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

/** One of lr_find's suggestion names, or what `parse` makes of the text. */
export function orSuggestion<T>(parse: (text: string) => T): (text: string) => T | LrSuggestionName {
  return (text) => ((LR_SUGGESTIONS as readonly string[]).includes(text) ? (text as LrSuggestionName) : parse(text));
}

/** Comma-separated whole numbers >= 1 ("" for none), e.g. head layer sizes. */
export function sizesFlag(flag: string): (text: string) => number[] {
  return (text) => {
    if (text.trim() === '') return [];
    const v = text.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    if (v.some((n) => !Number.isInteger(n) || n < 1))
      throw new InvalidArgumentError(`${flag} must be comma-separated whole numbers like 512 or 512,256, got '${text}'`);
    return v;
  };
}

/** A momentum schedule: start, middle and end, each in [0, 1). */
export function momsFlag(flag: string): (text: string) => [number, number, number] {
  return (text) => {
    const v = text.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    if (v.length !== 3 || v.some((m) => !(m >= 0 && m < 1)))
      throw new InvalidArgumentError(`${flag} must be three numbers in [0, 1) like 0.95,0.85,0.95, got '${text}'`);
    return [v[0], v[1], v[2]];
  };
}

/** `--backend`, the same choices and default for every command that computes. */
export function backendOption(description: string): Option {
  return new Option('--backend <name>', description).choices(BACKEND_CHOICES).default(DEFAULTS.backend);
}

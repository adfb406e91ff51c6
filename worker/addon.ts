/** Loads one of ringtune's optional native addons (built by `npm install` where their toolchains are). */
import { existsSync } from 'fs';
import { join } from 'path';

/**
 * The addon `name` built in worker/<folder>/native/ (found from the sources under ts-jest or from
 * dist/), or null with the reason: `missing` when it was not built.
 */
export function loadAddon<T>(folder: string, name: string, missing: string): { native: T | null; reason: string } {
  const rel = join(folder, 'native', 'build', 'Release', `${name}.node`);
  const path = [join(__dirname, rel), join(__dirname, '..', '..', 'worker', rel)].find((p) => existsSync(p));
  if (!path) return { native: null, reason: missing };
  try {
    return { native: require(path) as T, reason: `loaded ${path}` };
  } catch (e) {
    return { native: null, reason: `cannot load ${path}: ${(e as Error).message.split('\n')[0]}` };
  }
}

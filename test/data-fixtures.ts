/** Real image files written by sharp into temp folders, for the data and loader tests. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { dirname, join } from 'path';
import sharp from 'sharp';

/** A fresh temp folder; remove it with `rmTemp`. */
export function makeTemp(tag: string): string {
  return mkdtempSync(join(tmpdir(), `ringtune-${tag}-`));
}

/** Removes a temp folder made by `makeTemp`. */
export function rmTemp(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** w x h RGB bytes from a function of (x, y) -> [r, g, b]. */
export function rgbPixels(w: number, h: number, f: (x: number, y: number) => [number, number, number]): Buffer {
  const buf = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) buf.set(f(x, y), (y * w + x) * 3);
  return buf;
}

/** The kinds of file the tests write. */
export type FixtureKind = 'png' | 'jpeg' | 'grey' | 'rgba' | 'png16' | 'cmyk' | 'exif6';

/** Writes `pixels` (w x h RGB) as `kind` to `path`, creating folders; returns the path. */
export async function writeImage(path: string, kind: FixtureKind, w: number, h: number, pixels: Buffer): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  const raw = () => sharp(pixels, { raw: { width: w, height: h, channels: 3 } });
  switch (kind) {
    case 'png':
      await raw().png().toFile(path);
      break;
    case 'jpeg':
      await raw().jpeg({ quality: 95 }).toFile(path);
      break;
    case 'grey':
      await raw().toColourspace('b-w').png().toFile(path);
      break;
    case 'rgba':
      await raw().ensureAlpha(0.5).png().toFile(path);
      break;
    case 'png16':
      await raw().toColourspace('rgb16').png().toFile(path);
      break;
    case 'cmyk':
      await raw().toColourspace('cmyk').jpeg({ quality: 95 }).toFile(path);
      break;
    case 'exif6':
      await raw().jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(path);
      break;
  }
  return path;
}

/** Writes the first half of a real PNG: a header that parses, pixels that do not. */
export async function writeTruncatedPng(path: string): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  const png = await sharp(
    rgbPixels(32, 32, (x, y) => [x * 8, y * 8, 99]),
    { raw: { width: 32, height: 32, channels: 3 } },
  )
    .png()
    .toBuffer();
  writeFileSync(path, png.subarray(0, Math.floor(png.length / 2)));
  return path;
}

/** Writes a text file, optionally under an image extension. */
export function writeText(path: string, text = 'not an image'): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

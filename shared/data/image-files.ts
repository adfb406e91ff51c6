/**
 * What counts as an image file, and a cheap check that one is whole. Reading a header is not
 * enough to catch a truncated PNG or JPEG (the header survives, the pixels do not), so `verify`
 * also looks at the file's tail for the format's end marker.
 */
import { open, readFile, stat } from 'fs/promises';
import { extname } from 'path';
import sharp from 'sharp';

/** File extensions sharp can decode and that ringtune treats as images (lower case, with dot). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif']);

/** True when the file name has an image extension (case-insensitive). */
export function hasImageExtension(file: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(file).toLowerCase());
}

const PNG_IEND = Buffer.from([0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
const JPEG_EOI = Buffer.from([0xff, 0xd9]);
const TAIL_BYTES = 1024;

/**
 * Why the bytes at the end of a PNG/JPEG show it was cut short, or null when they look whole
 * (other formats: null). A JPEG's end marker may be followed by padding, so the tail is searched.
 */
export function truncationReason(format: string | undefined, tail: Buffer): string | null {
  if (format === 'png' && tail.indexOf(PNG_IEND) < 0) return 'truncated PNG (no IEND chunk at the end)';
  if (format === 'jpeg' && tail.indexOf(JPEG_EOI) < 0) return 'truncated JPEG (no end-of-image marker)';
  return null;
}

const WHOLE_FILE_BYTES = 1 << 20;

/** Decodes the header of one image with sharp and checks its tail; returns why it is unusable, or null. */
export async function imageProblem(path: string): Promise<string | null> {
  try {
    return await inspect(path);
  } catch (e) {
    return `cannot read the file: ${(e as Error).message}`; // permissions, vanished file, I/O error
  }
}

async function inspect(path: string): Promise<string | null> {
  const { size } = await stat(path);
  // Small files are read once and inspected from memory; big ones by header and tail only.
  const whole = size <= WHOLE_FILE_BYTES ? await readFile(path) : null;
  let format: string | undefined;
  try {
    const meta = await sharp(whole ?? path).metadata();
    if (!meta.width || !meta.height) return 'image has no size';
    format = meta.format;
  } catch (e) {
    return `not a readable image: ${(e as Error).message.split('\n')[0]}`;
  }
  if (format !== 'png' && format !== 'jpeg') return null;
  const n = Math.min(size, TAIL_BYTES);
  if (whole) return truncationReason(format, whole.subarray(size - n));
  const fh = await open(path, 'r');
  try {
    const tail = Buffer.alloc(n);
    await fh.read(tail, 0, n, size - n);
    return truncationReason(format, tail);
  } finally {
    await fh.close();
  }
}

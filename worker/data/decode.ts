/**
 * The sharp side of loading: decode any image libvips reads (grey, RGBA, 16-bit, CMYK, EXIF-
 * rotated) into 8-bit sRGB pixels, and crop + resize raw pixels off the main thread. Everything
 * here runs on libuv threads; errors name the file.
 */
import sharp from 'sharp';
import type { CropRect } from './augment';

/** Decoded 8-bit RGB pixels, HWC, row-major. */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
}

/** How to size while decoding: shrink so the shorter side is at most `side`, or cover-crop to `size` x `size`. */
export type DecodeFit = { kind: 'shorterAtMost'; side: number } | { kind: 'centreSquare'; size: number };

/** Decodes `path` to 8-bit sRGB, applying EXIF orientation, dropping alpha, then the requested fit. */
export async function decodeRgb(path: string, fit: DecodeFit): Promise<Pixels> {
  try {
    const img =
      fit.kind === 'centreSquare'
        ? sharp(path).rotate().resize(fit.size, fit.size, { fit: 'cover', position: 'centre' })
        : sharp(path).rotate().resize(fit.side, fit.side, { fit: 'outside', withoutEnlargement: true });
    const { data, info } = await img.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw new Error(`cannot decode image ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Crops `crop` out of `px` and resizes it to size x size (bilinear), on sharp's threads. */
export async function cropResize(px: Pixels, crop: CropRect, size: number): Promise<Uint8Array> {
  return sharp(px.data, { raw: { width: px.width, height: px.height, channels: 3 } })
    .extract(crop)
    .resize(size, size, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
}

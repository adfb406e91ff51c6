/**
 * The sharp side of loading: decode any image libvips reads (grey, RGBA, 16-bit, CMYK, EXIF-
 * rotated) into 8-bit sRGB pixels, on libuv threads; errors name the file. Cropping and resizing
 * happen afterwards in resample.ts, the way fastai's item transforms do them.
 */
import sharp from 'sharp';

/** Decoded 8-bit RGB pixels, HWC, row-major. */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Decodes `path` to 8-bit sRGB at its full size, applying EXIF orientation and dropping alpha (fastai's PILImage.create in RGB mode). */
export async function decodeRgb(path: string): Promise<Pixels> {
  try {
    const { data, info } = await sharp(path)
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw new Error(`cannot decode image ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
}

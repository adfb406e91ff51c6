/** Real image folders for tests: small PNGs written by sharp, with a learnable pattern per class. */
import sharp from 'sharp';
import { mkdirSync } from 'fs';
import { join } from 'path';
import { Rng } from '../../shared/rng';

export interface FolderSpec {
  classes: string[];
  trainPerClass: number;
  validPerClass: number;
  size: number;
  seed?: number;
  /**
   * `bar` (default): a bright bar whose position encodes the class. `tint`: the class is which
   * channel is raised and by how much, which survives any crop or zoom (fastai's validation centre crop
   * cuts the outer bars away).
   */
  pattern?: 'bar' | 'tint';
}

const clampByte = (v: number) => Math.max(0, Math.min(255, v));

/** One image of class `label` in the given pattern, plus noise. */
async function drawImage(file: string, label: number, nClasses: number, size: number, rng: Rng, pattern: 'bar' | 'tint'): Promise<void> {
  const px = Buffer.alloc(size * size * 3);
  const band = Math.max(1, Math.floor(size / nClasses));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (pattern === 'tint') {
        for (let c = 0; c < 3; c++) {
          const raised = c === label % 3 ? 40 * (1 + Math.floor(label / 3)) : 0;
          px[(y * size + x) * 3 + c] = clampByte(100 + raised + rng.normal() * 20);
        }
        continue;
      }
      const on = Math.floor(y / band) === label;
      const v = clampByte((on ? 200 : 40) + rng.normal() * 20);
      for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = v;
    }
  }
  await sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(file);
}

/** Writes root/train/<class>/*.png and root/valid/<class>/*.png. */
export async function makeImageFolders(root: string, spec: FolderSpec): Promise<void> {
  const rng = new Rng(spec.seed ?? 1);
  for (const [split, count] of [
    ['train', spec.trainPerClass],
    ['valid', spec.validPerClass],
  ] as const) {
    for (let label = 0; label < spec.classes.length; label++) {
      const dir = join(root, split, spec.classes[label]);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < count; i++)
        await drawImage(join(dir, `${i}.png`), label, spec.classes.length, spec.size, rng, spec.pattern ?? 'bar');
    }
  }
}

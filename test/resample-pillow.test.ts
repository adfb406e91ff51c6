/**
 * The resampler against Pillow itself (Debian's python3-pil, what fastai's crop_pad calls): random
 * images, training crops (with flips) and validation squashes must give byte-identical outputs.
 * Skipped, saying so, where python3 cannot import PIL.
 */
import { execFileSync, spawnSync } from 'child_process';
import { augmentationFor, trainingPlan, validationPlan } from '../worker/data/augment';
import { resizeCropRgb, type ResizeCrop } from '../worker/data/resample';
import { Rng } from '../shared/rng';

/** The first Python that imports PIL: $PYTHON, python3 on the PATH, then Debian's own. */
const PYTHON = [process.env.PYTHON, 'python3', '/usr/bin/python3'].find(
  (p) => p && spawnSync(p, ['-c', 'import PIL'], { stdio: 'ignore' }).status === 0,
);
const hasPillow = PYTHON !== undefined;
if (!hasPillow) console.warn('resample-pillow: no python3 here imports PIL (Debian: python3-pil); the comparison with Pillow is skipped');

const PILLOW = `
import sys, json, base64
from PIL import Image
out = []
for c in json.load(sys.stdin):
    img = Image.frombytes('RGB', (c['w'], c['h']), base64.b64decode(c['src']))
    p = c['plan']; cr = p['crop']; win = p['window']
    x = img.crop((cr['left'], cr['top'], cr['left'] + cr['width'], cr['top'] + cr['height']))
    x = x.resize((p['resizeTo'], p['resizeTo']), Image.BILINEAR)
    x = x.crop((win['left'], win['top'], win['left'] + win['size'], win['top'] + win['size']))
    if p['flip']: x = x.transpose(Image.FLIP_LEFT_RIGHT)
    out.append(base64.b64encode(x.tobytes()).decode())
print(json.dumps(out))
`;

(hasPillow ? test : test.skip)('Pillow gives the same bytes for 120 random crops, squashes and flips', () => {
  const rng = new Rng(5);
  const cases: { w: number; h: number; src: string; plan: ResizeCrop; ours: Buffer }[] = [];
  for (let t = 0; t < 120; t++) {
    const [w, h] = [3 + rng.int(120), 3 + rng.int(120)];
    const src = Buffer.from(Array.from({ length: w * h * 3 }, () => rng.int(256)));
    const size = [4, 8, 28, 32, 64][rng.int(5)];
    const plan =
      t % 2 === 0
        ? trainingPlan(augmentationFor(t, 0, t, w, h, { minScale: 0.08, flip: rng.next() < 0.5 }), size)
        : validationPlan(w, h, size);
    cases.push({ w, h, src: src.toString('base64'), plan, ours: Buffer.from(resizeCropRgb(src, w, plan)) });
  }
  const input = JSON.stringify(cases.map(({ w, h, src, plan }) => ({ w, h, src, plan })));
  const theirs = JSON.parse(execFileSync(PYTHON!, ['-c', PILLOW], { input, encoding: 'utf8', maxBuffer: 64 << 20 })) as string[];
  const differ = cases
    .filter((c, i) => !Buffer.from(theirs[i], 'base64').equals(c.ours))
    .map((c) => `${c.w}x${c.h} ${JSON.stringify(c.plan)}`);
  expect(differ).toEqual([]);
});

/**
 * fastai's Learner.tta: score the images n times under the training transforms (random crops and
 * flips, seeded per pass), average those probabilities, and blend the average with the plain
 * (validation-transform) probabilities: torch.lerp(aug, plain, beta) = (1 - beta) * aug + beta * plain.
 */
import type { Item } from '../shared/data/folders';
import { scoreItems, type Classifier, type Scores } from './inference';

/** fastai's tta defaults: 4 augmented passes, beta 0.25. */
export const TTA_DEFAULTS = { n: 4, beta: 0.25 };

/** Float32's smallest normal number: a probability below it is scored as if it were it, so a loss stays finite. */
const SMALLEST_PROBABILITY = 1.1754943508222875e-38;

/** The mean of the augmented probabilities blended with the plain ones, elementwise. */
export function blendTta(plain: Float32Array, augmented: Float32Array[], beta: number): Float32Array {
  if (augmented.length === 0) throw new Error('test-time augmentation needs at least one augmented pass');
  const out = new Float32Array(plain.length);
  for (let i = 0; i < plain.length; i++) {
    let sum = 0;
    for (const a of augmented) sum += a[i];
    const aug = sum / augmented.length;
    out[i] = aug + beta * (plain[i] - aug);
  }
  return out;
}

/** Scores `items` with test-time augmentation; losses are -log of the blended probability of the true class. */
export async function scoreItemsTta(
  c: Classifier,
  root: string,
  items: Item[],
  o: { bs: number; n?: number; beta?: number },
): Promise<Scores> {
  const { n, beta } = { ...TTA_DEFAULTS, ...o };
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`TTA needs n >= 1 augmented passes, got ${n}`);
  const augmented: Float32Array[] = [];
  for (let pass = 0; pass < n; pass++) augmented.push((await scoreItems(c, root, items, { bs: o.bs, augmentPass: pass })).probs);
  const plain = await scoreItems(c, root, items, { bs: o.bs });
  const probs = blendTta(plain.probs, augmented, beta);
  const k = plain.classes;
  const scores: Scores = { ...plain, probs, losses: new Float32Array(plain.n), preds: new Int32Array(plain.n) };
  for (let i = 0; i < plain.n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + best]) best = j;
    scores.preds[i] = best;
    const t = plain.targets[i];
    scores.losses[i] = t >= 0 && t < k ? -Math.log(Math.max(probs[i * k + t], SMALLEST_PROBABILITY)) : NaN;
  }
  return scores;
}

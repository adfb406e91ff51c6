/** MobileNetV2 (width 1.0) in torchvision's ImageNet layout: inverted residuals with ReLU6. */
import * as tf from '@tensorflow/tfjs';
import { Builder } from './builder';
import { Body, evenSplit } from './body';

/** [expansion t, channels c, repeats n, first stride s] per stage, as in the paper and torchvision. */
const SETTINGS: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function invertedResidual(
  b: Builder,
  x: tf.SymbolicTensor,
  inC: number,
  outC: number,
  stride: number,
  t: number,
  name: string,
): tf.SymbolicTensor {
  let y = x;
  if (t !== 1) y = b.convBn(y, { name: `${name}_expand`, filters: inC * t, kernel: 1, act: 'relu6' });
  y = b.convBn(y, { name: `${name}_dw`, filters: inC * t, kernel: 3, stride, act: 'relu6', depthwise: true });
  y = b.convBn(y, { name: `${name}_project`, filters: outC, kernel: 1, act: 'none' });
  if (stride === 1 && inC === outC) y = b.apply(tf.layers.add({ name: `${name}_add` }), [x, y]);
  return y;
}

/** Builds the MobileNetV2 feature extractor (up to the 1280-channel conv); own split: two halves. */
export function mobilenetV2Body(input: tf.SymbolicTensor): Body {
  const b = new Builder();
  b.startUnit();
  let x = b.convBn(input, { name: 'stem', filters: 32, kernel: 3, stride: 2, act: 'relu6' });
  let inC = 32;
  let k = 0;
  for (const [t, c, n, s] of SETTINGS) {
    for (let i = 0; i < n; i++) {
      b.startUnit();
      x = invertedResidual(b, x, inC, c, i === 0 ? s : 1, t, `block${k++}`);
      inC = c;
    }
  }
  b.startUnit();
  x = b.convBn(x, { name: 'last', filters: 1280, kernel: 1, act: 'relu6' });
  return { output: x, unitOf: b.unitOf, nUnits: b.nUnits, split: evenSplit(b.nUnits, 2), nf: 1280 };
}

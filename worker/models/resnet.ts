/**
 * ResNets in torchvision's layout (BasicBlock / Bottleneck v1.5 with the stride on the 3x3 conv),
 * plus ringtune's small ResNet for 28-64 px inputs. Units: stem, then one per residual block.
 */
import * as tf from '@tensorflow/tfjs';
import { Builder } from './builder';
import { Body } from './body';

type Block = (b: Builder, x: tf.SymbolicTensor, inC: number, planes: number, stride: number, name: string) => tf.SymbolicTensor;

/** Projection shortcut (conv1x1 + BN) when the shape changes, identity otherwise. */
function shortcut(b: Builder, x: tf.SymbolicTensor, inC: number, outC: number, stride: number, name: string): tf.SymbolicTensor {
  if (stride === 1 && inC === outC) return x;
  return b.convBn(x, { name: `${name}_down`, filters: outC, kernel: 1, stride, act: 'none' });
}

/** Merges the residual branch and the shortcut, then ReLU. */
function merge(b: Builder, y: tf.SymbolicTensor, sc: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  const sum = b.apply(tf.layers.add({ name: `${name}_add` }), [y, sc]);
  return b.act(sum, 'relu', `${name}_out`);
}

const basicBlock: Block = (b, x, inC, planes, stride, name) => {
  let y = b.convBn(x, { name: `${name}_1`, filters: planes, kernel: 3, stride, act: 'relu' });
  y = b.convBn(y, { name: `${name}_2`, filters: planes, kernel: 3, act: 'none' });
  return merge(b, y, shortcut(b, x, inC, planes, stride, name), name);
};

const bottleneck: Block = (b, x, inC, planes, stride, name) => {
  let y = b.convBn(x, { name: `${name}_1`, filters: planes, kernel: 1, act: 'relu' });
  y = b.convBn(y, { name: `${name}_2`, filters: planes, kernel: 3, stride, act: 'relu' });
  y = b.convBn(y, { name: `${name}_3`, filters: planes * 4, kernel: 1, act: 'none' });
  return merge(b, y, shortcut(b, x, inC, planes * 4, stride, name), name);
};

interface ResnetLayout {
  block: Block;
  expansion: number;
  depths: number[];
  widths: number[];
  imagenetStem: boolean;
}

const LAYOUTS: Record<string, ResnetLayout> = {
  'resnet-small': { block: basicBlock, expansion: 1, depths: [1, 1, 1, 1], widths: [16, 32, 64, 128], imagenetStem: false },
  resnet18: { block: basicBlock, expansion: 1, depths: [2, 2, 2, 2], widths: [64, 128, 256, 512], imagenetStem: true },
  resnet34: { block: basicBlock, expansion: 1, depths: [3, 4, 6, 3], widths: [64, 128, 256, 512], imagenetStem: true },
  resnet50: { block: bottleneck, expansion: 4, depths: [3, 4, 6, 3], widths: [64, 128, 256, 512], imagenetStem: true },
};

/** Names of the ResNet variants this module builds. */
export const RESNETS = Object.keys(LAYOUTS);

/** Builds a ResNet body; its own split is fastai's: stem..stage2 / stage3-4. */
export function resnetBody(arch: string, input: tf.SymbolicTensor): Body {
  const L = LAYOUTS[arch];
  if (!L) throw new Error(`unknown resnet '${arch}'`);
  const b = new Builder();
  b.startUnit();
  let x: tf.SymbolicTensor;
  let inC: number;
  if (L.imagenetStem) {
    x = b.convBn(input, { name: 'stem', filters: 64, kernel: 7, stride: 2, act: 'relu' });
    // Zero padding equals PyTorch's -inf padding here because the input is post-ReLU (>= 0).
    x = b.apply(tf.layers.zeroPadding2d({ padding: 1, name: 'stem_pool_pad' }), x);
    x = b.apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid', name: 'stem_pool' }), x);
    inC = 64;
  } else {
    x = b.convBn(input, { name: 'stem', filters: L.widths[0], kernel: 3, act: 'relu' });
    inC = L.widths[0];
  }
  let stage3Start = 0;
  L.depths.forEach((depth, s) => {
    if (s === 2) stage3Start = b.nUnits;
    for (let i = 0; i < depth; i++) {
      b.startUnit();
      const stride = i === 0 && s > 0 ? 2 : 1;
      x = L.block(b, x, inC, L.widths[s], stride, `layer${s + 1}_${i}`);
      inC = L.widths[s] * L.expansion;
    }
  });
  return { output: x, unitOf: b.unitOf, nUnits: b.nUnits, split: [stage3Start], nf: inC };
}

/** Shared numerics helpers for kernel tests: the error measure and the random conv cases they sample. */
import { Rng } from '../../shared/rng';

/** Largest absolute difference relative to the largest reference magnitude. */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} != ${want.length}`);
  let num = 0;
  let den = 1e-12;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / den;
}

export type Pad = 'same' | 'valid' | number[][];
/** One convolution case: batch, size, channels, kernel, stride, dilation, padding, depth multiplier. */
export interface Case {
  b: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  s: number;
  d: number;
  pad: Pad;
  m: number;
}

/** A random case from the grid the issue names (batch 1-8; channels 1,3,16,32; kernels 1,3,5,7; strides 1,2; dilation 1,2; same/valid/explicit). */
export function sampleCase(rng: Rng, depthwise: boolean): Case {
  const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)];
  const k = pick([1, 3, 5, 7]);
  const s = pick([1, 2]);
  const d = s === 1 && k > 1 ? pick([1, 2]) : 1; // tfjs: strides or dilations must be 1
  const keff = (k - 1) * d + 1;
  const pad: Pad = pick([
    'same',
    'valid',
    'same',
    'valid',
    [
      [0, 0],
      [rng.int(3), rng.int(3)],
      [rng.int(3), rng.int(3)],
      [0, 0],
    ],
  ]);
  return {
    b: 1 + rng.int(8),
    h: keff + rng.int(9),
    w: keff + rng.int(9),
    k,
    s,
    d,
    pad,
    cin: pick([1, 3, 16, 32]),
    cout: pick([1, 3, 16, 32]),
    m: depthwise ? pick([1, 1, 2]) : 1,
  };
}

/**
 * Convolutions whose GEMMs have few outputs, as late in a net at a small size: they take the
 * 32x32 and 16x16 tiles and K splits whose last one is shorter (test/gpu-gemm-plan.test.ts
 * checks that they do; test/helpers/webgpu-kernels.ts runs them).
 */
export const SMALL_OUTPUT_CONVS: Case[] = [
  { b: 2, h: 2, w: 2, cin: 100, cout: 40, k: 1, s: 1, d: 1, pad: 'same', m: 1 },
  { b: 2, h: 8, w: 8, cin: 600, cout: 256, k: 1, s: 1, d: 1, pad: 'same', m: 1 },
  { b: 3, h: 5, w: 4, cin: 37, cout: 45, k: 3, s: 2, d: 1, pad: 'same', m: 1 },
];

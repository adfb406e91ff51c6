/**
 * planGemm (worker/kernels/webgpu-gemm.ts): how an implicit GEMM spreads over the GPU, by tile
 * size and K splits. Pure; the kernels it plans are checked against cpu in
 * test/gpu-kernels-webgpu.test.ts, whose small-output convolutions this also checks cover
 * every tile and a K split with a shorter last split.
 */
import * as tf from '@tensorflow/tfjs';
import { MIN_THREADS, planGemm, TARGET_THREADS } from '../worker/kernels/webgpu-gemm';
import { buildNet } from '../worker/models';
import { benchNet } from '../scripts/bench-nets';
import { convGemmSize, type ConvGemm } from '../worker/kernels/webgpu-conv';
import { convGeometry } from '../worker/kernels/geometry';
import { SMALL_OUTPUT_CONVS } from './helpers/numerics';

test('many outputs: 64x64 tiles, split over K only towards TARGET_THREADS', () => {
  // The small CNN at 32 px batch 32: a 3x3 conv of 32 channels; its first conv (K = 27, under two 16-deep steps a split).
  expect(planGemm(32768, 32, 288)).toEqual({ tile: 64, splits: 2, kPerSplit: 144, threads: 512 * 256 * 2 });
  expect(planGemm(32768, 32, 27)).toEqual({ tile: 64, splits: 1, kPerSplit: 32, threads: 512 * 256 });
});

test('a filter gradient (small C, long K): 64x64 tiles split over K, the last split shorter', () => {
  // 5 tiles want ceil(2^18 / 1280) = 205 splits: 160 K each (32768 / 205 = 159.8, rounded up to 16s), the last 128.
  expect(planGemm(288, 32, 32768)).toEqual({ tile: 64, splits: 205, kPerSplit: 160, threads: 5 * 256 * 205 });
});

/** Every convolution GEMM of `model` at `batch` above 10 MFLOP, with its plan. */
function heavyConvPlans(model: tf.LayersModel, batch: number) {
  return model.layers
    .filter((l) => l.getClassName() === 'Conv2D')
    .flatMap((l) => {
      const { strides, padding } = l.getConfig() as { strides: [number, number]; padding: 'same' | 'valid' };
      const kernel = l.getWeights()[0].shape;
      const g = convGeometry(
        [batch, ...(l.input as tf.SymbolicTensor).shape.slice(1)] as number[],
        kernel,
        { strides, pad: padding },
        false,
      );
      return (['forward', 'filter_grad', 'input_grad'] as ConvGemm[]).map((gemm) => ({ layer: l.name, gemm, ...convGemmSize(gemm, g) }));
    })
    .filter(({ M, N, K }) => 2 * M * N * K > 10e6)
    .map((s) => ({ ...s, ...planGemm(s.M, s.N, s.K) }));
}

test('every convolution GEMM above 10 MFLOP of mobilenet_v2 at 64 px b8 and the small CNN at 32 px b32 launches 64k threads', async () => {
  await tf.setBackend('cpu');
  const mobilenet = await buildNet({ arch: 'mobilenet_v2', nClasses: 10, size: 64, seed: 1 });
  const cnn = benchNet(32, 3);
  const plans = [...heavyConvPlans(mobilenet.model, 8), ...heavyConvPlans(cnn, 32)];
  expect(plans.length).toBeGreaterThan(50);
  expect(plans.filter((p) => p.threads < MIN_THREADS)).toEqual([]);
  // The late 1x1 convolutions (2x2 and 4x4 pixels x 8) are what needed tiles under 64.
  const late = plans.filter((p) => (p.gemm === 'filter_grad' ? p.K : p.M) <= 128);
  expect(late.length).toBeGreaterThan(0);
  expect(late.every((p) => p.tile < 64)).toBe(true);
  mobilenet.model.dispose();
  cnn.dispose();
});

test('a 1x1 convolution on 2x2 pixels x 8: 16x16 tiles, K split as far as 32-deep splits go', () => {
  // 2 x 10 tiles of 16 want ceil(2^18 / 5120) = 52 splits; K = 960 allows 30 of 32.
  expect(planGemm(32, 160, 960)).toEqual({ tile: 16, splits: 30, kPerSplit: 32, threads: 20 * 256 * 30 });
});

test('nothing reaches MIN_THREADS: the plan with the most threads, K split with a shorter last split', () => {
  // tile 64: 1 tile, tile 32: 2, tile 16: 3; K = 100 allows 3 splits of 48, 48 and 4.
  expect(planGemm(8, 40, 100)).toEqual({ tile: 16, splits: 3, kPerSplit: 48, threads: 3 * 256 * 3 });
  expect(planGemm(1, 1, 1)).toEqual({ tile: 64, splits: 1, kPerSplit: 16, threads: 256 });
});

test('every plan covers K exactly once, in 16-deep steps, with bounded partials', () => {
  for (const M of [1, 7, 32, 100, 513, 4096])
    for (const N of [1, 16, 40, 333, 1280])
      for (const K of [1, 15, 31, 64, 100, 999, 50000]) {
        const p = planGemm(M, N, K);
        const ok =
          p.kPerSplit % 16 === 0 &&
          (p.splits - 1) * p.kPerSplit < K &&
          K <= p.splits * p.kPerSplit &&
          (p.splits === 1 || (p.kPerSplit >= 32 && p.splits * M * N <= 2 ** 24)) &&
          p.threads === Math.ceil(M / p.tile) * Math.ceil(N / p.tile) * 256 * p.splits &&
          (p.splits === 1 || p.threads <= 2 * TARGET_THREADS);
        expect([M, N, K, ok]).toEqual([M, N, K, true]);
      }
});

test('the small-output convolutions the webgpu kernel test runs cover 32 and 16 tiles and a shorter last K split', () => {
  const plans = SMALL_OUTPUT_CONVS.flatMap((c) => {
    const g = convGeometry([c.b, c.h, c.w, c.cin], [c.k, c.k, c.cin, c.cout], { strides: c.s, pad: c.pad as 'same' }, false);
    return (['forward', 'filter_grad', 'input_grad'] as ConvGemm[]).map((w) => {
      const { M, N, K } = convGemmSize(w, g);
      return { ...planGemm(M, N, K), K };
    });
  });
  for (const tile of [32, 16]) {
    const split = plans.filter((p) => p.tile === tile && p.splits > 1);
    expect([tile, split.length > 0, split.some((p) => p.K % p.kPerSplit !== 0)]).toEqual([tile, true, true]);
  }
});

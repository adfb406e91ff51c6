/**
 * bench:gpu --check: one training step's gradients of each case on webgpu (ringtune's kernels or
 * stock ones) against the cpu backend, same weights and batch, judged by Note [gradient
 * agreement] (norm error per variable, against the cpu backend's own float32 sensitivity).
 */
import * as tf from '@tensorflow/tfjs';
import { releaseBackend, selectBackend } from '../worker/backend';
import { restoreStockWebgpuKernels } from '../worker/kernels/webgpu';
import { buildNet } from '../worker/models';
import { Rng } from '../shared/rng';
import { benchNet } from './bench-nets';
import { useFastCpuReference } from './cpu-reference';
import { describeAgreement, gradientAgreement, roundingPerturbation, type Agreement } from './grad-agreement';

/** One net, size and batch to check. */
export interface NumericsCase {
  net: string;
  size: number;
  batch: number;
  build(): Promise<tf.LayersModel>;
}

const head = { linFtrs: [16], ps: 0, firstBn: true };

/**
 * The default cases: well conditioned at these batches (the head's BatchNorm over a batch of 2
 * is not: see Note [gradient agreement]), and quick enough for the cpu reference.
 */
export const NUMERICS_CASES: NumericsCase[] = [
  { net: 'small CNN', size: 16, batch: 4, build: async () => benchNet(16, 3) },
  {
    net: 'resnet-small',
    size: 32,
    batch: 8,
    build: async () => (await buildNet({ arch: 'resnet-small', nClasses: 10, size: 32, seed: 1, head })).model,
  },
  {
    net: 'mobilenet_v2',
    size: 64,
    batch: 8,
    build: async () => (await buildNet({ arch: 'mobilenet_v2', nClasses: 10, size: 64, seed: 1, head })).model,
  },
];

const variablesOf = (model: tf.LayersModel) => model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);

async function gradients(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): Promise<Float32Array[]> {
  const vars = variablesOf(model);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    vars,
  );
  const out = await Promise.all(vars.map(async (v) => (await grads[v.name].data()) as Float32Array));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

/** Gradients with every input and weight moved by one float32 rounding (weights put back after). */
async function perturbedGradients(model: tf.LayersModel, x: Float32Array, shape: number[], y: tf.Tensor): Promise<Float32Array[]> {
  const rng = new Rng(4242);
  const vars = variablesOf(model);
  const saved = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
  vars.forEach((v, i) =>
    v.assign(
      tf.tensor(
        roundingPerturbation(saved[i], () => rng.next()),
        v.shape,
      ),
    ),
  );
  const xp = tf.tensor(
    roundingPerturbation(x, () => rng.next()),
    shape,
  );
  try {
    return await gradients(model, xp, y);
  } finally {
    xp.dispose();
    vars.forEach((v, i) => v.assign(tf.tensor(saved[i], v.shape)));
  }
}

/** One case's verdict, as the child process reports it. */
export interface NumericsResult {
  net: string;
  agreement: Omit<Agreement, 'variables'>;
  line: string;
}

/** Runs every case on cpu (reference and rounding-perturbed), then on webgpu; see Note [gradient agreement]. */
export async function checkNumerics(stock: boolean, cases = NUMERICS_CASES): Promise<NumericsResult[]> {
  await selectBackend('cpu');
  const restoreCpu = useFastCpuReference();
  const nets = [];
  try {
    for (const c of cases) {
      const model = await c.build();
      const rng = new Rng(3);
      const shape = [c.batch, c.size, c.size, 3];
      const xv = Float32Array.from({ length: c.batch * c.size * c.size * 3 }, () => rng.uniform(-2, 2));
      const x = tf.tensor(xv, shape);
      const y = tf.oneHot(
        tf.tensor1d(
          Int32Array.from({ length: c.batch }, (_, i) => i % 10),
          'int32',
        ),
        10,
      );
      const want = await gradients(model, x, y);
      const perturbed = await perturbedGradients(model, xv, shape, y);
      nets.push({ ...c, model, x, y, want, perturbed });
    }
  } finally {
    restoreCpu();
  }
  await selectBackend('webgpu');
  if (stock) restoreStockWebgpuKernels();
  const out: NumericsResult[] = [];
  try {
    for (const n of nets) {
      const got = await gradients(n.model, n.x, n.y);
      const names = n.model.trainableWeights.map((w) => w.name);
      const { variables: _all, ...agreement } = gradientAgreement(got, n.want, n.perturbed, names);
      const label = `${n.net} ${n.size}px b${n.batch}`;
      out.push({ net: label, agreement, line: describeAgreement(label, { variables: _all, ...agreement }) });
      tf.dispose([n.x, n.y]);
      n.model.dispose();
    }
  } finally {
    releaseBackend();
  }
  return out;
}

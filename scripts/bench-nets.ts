/** The compute benchmarks' nets and training step (shared by bench:compute and bench:gpu). */
import * as tf from '@tensorflow/tfjs';

/** conv3x3 32 + BN + ReLU; for f in 64, 128, 256: stride-2 conv3x3 to f and conv3x3 f (+BN+ReLU); GAP; dense 10. */
export function benchNet(size: number, channels: number): tf.LayersModel {
  const inp = tf.input({ shape: [size, size, channels] });
  let seed = 1;
  const cbr = (x: tf.SymbolicTensor, filters: number, strides: number): tf.SymbolicTensor => {
    const conv = tf.layers.conv2d({
      filters,
      kernelSize: 3,
      strides,
      padding: 'same',
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: seed++ }),
    });
    const bn = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
    return tf.layers.reLU().apply(bn.apply(conv.apply(x))) as tf.SymbolicTensor;
  };
  let x = cbr(inp, 32, 1);
  for (const f of [64, 128, 256]) x = cbr(cbr(x, f, 2), f, 1);
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }) })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: out });
}

/** One Adam training step on a fixed random batch, kept alive between calls; dispose() frees it. */
export function trainStepper(model: tf.LayersModel, batch: number): { run(): Promise<number>; dispose(): void } {
  const shape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
  const labels = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 8) as tf.Tensor1D, 10));
  const opt = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  return {
    async run() {
      const loss = opt.minimize(
        () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        true,
        vars,
      )!;
      const v = (await loss.data())[0];
      loss.dispose();
      return v;
    },
    dispose() {
      opt.dispose();
      tf.dispose([x, labels]);
      model.dispose();
    },
  };
}

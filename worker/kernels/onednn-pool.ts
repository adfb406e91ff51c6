/** MaxPoolGrad run natively on the wasm heap (Note [wasm heap] in onednn.ts): maxpool-grad.ts's loop in C++. */
import * as tf from '@tensorflow/tfjs';
import { heapOperands, KernelArgs, nativeOperands, OnednnNative } from './onednn';
import { poolGeometry } from './maxpool-grad';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

export function maxPoolGradKernel(native: OnednnNative, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    if (!nativeOperands(dy, input) || input.shape.length !== 4) return fallback(args);
    const g = poolGeometry(input.shape, args.attrs);
    const desc = Float64Array.from([g.batch, g.inH, g.inW, g.channels, g.outH, g.outW, g.kh, g.kw, g.sh, g.sw, g.padT, g.padL]);
    const dx = args.backend.makeOutput(input.shape, 'float32');
    const { heap, offsets } = heapOperands(args.backend, [input, dy, dx]);
    native.maxPoolGrad(heap, desc, offsets);
    return dx;
  };
}

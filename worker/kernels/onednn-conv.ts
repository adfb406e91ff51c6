/**
 * Convolution kernels of the wasm backend run by oneDNN on the wasm heap (Note [wasm heap] in
 * onednn.ts): forward with tfjs's fused bias and activation, input and filter gradients, plain and
 * depthwise. Cases oneDNN does not take (PReLU, an odd bias shape, a non-float32 or empty tensor)
 * go to the kernel registered before (`fallback`).
 */
import * as tf from '@tensorflow/tfjs';
import { ConvAttrs, ConvGeometry, convGeometry, toNhwcShape } from './geometry';
import { activationCodes, heapOperands, KernelArgs, nativeOperands, OnednnNative } from './onednn';

enum Kind {
  Forward = 0,
  BackwardData = 1,
  BackwardWeights = 2,
}

interface Fusion {
  activation: number;
  alpha: number;
  bias: boolean;
}

const NO_FUSION: Fusion = { activation: 0, alpha: 0, bias: false };

/** Rows/columns of right padding oneDNN needs for tfjs's output size (0 when the input has rows to spare). */
function endPad(outSize: number, stride: number, taps: number, dilation: number, inSize: number, start: number): number {
  return Math.max(0, (outSize - 1) * stride + (taps - 1) * dilation + 1 - inSize - start);
}

/** The descriptor native/conv.cc reads (its Field order). */
function convDesc(kind: Kind, g: ConvGeometry, groups: number, nchw: boolean, f: Fusion): Float64Array {
  return Float64Array.from([
    kind,
    g.batch,
    g.inH,
    g.inW,
    g.inC,
    g.outH,
    g.outW,
    g.outC,
    g.kh,
    g.kw,
    groups,
    g.sh,
    g.sw,
    g.dh,
    g.dw,
    g.top,
    g.left,
    endPad(g.outH, g.sh, g.kh, g.dh, g.inH, g.top),
    endPad(g.outW, g.sw, g.kw, g.dw, g.inW, g.left),
    nchw ? 1 : 0,
    f.activation,
    f.alpha,
    f.bias ? 1 : 0,
  ]);
}

function forwardShape(g: ConvGeometry, nchw: boolean): number[] {
  return nchw ? [g.batch, g.outC, g.outH, g.outW] : [g.batch, g.outH, g.outW, g.outC];
}

interface ConvCall {
  kind: Kind;
  g: ConvGeometry;
  depthwise: boolean;
  nchw: boolean;
  fusion: Fusion;
  /** Heap operands in native/conv.h's order, the output excluded. */
  operands: tf.TensorInfo[];
  outShape: number[];
}

function runConv(native: OnednnNative, args: KernelArgs, c: ConvCall): tf.TensorInfo {
  const out = args.backend.makeOutput(c.outShape, 'float32');
  const { heap, offsets } = heapOperands(args.backend, [...c.operands, out]);
  native.conv(heap, convDesc(c.kind, c.g, c.depthwise ? c.g.inC : 1, c.nchw, c.fusion), offsets);
  return out;
}

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** The activation and bias of a fused kernel, or null when oneDNN cannot fuse them. */
function fusionOf(args: KernelArgs, outC: number): Fusion | null {
  const { bias, preluActivationWeights } = args.inputs;
  const activation = activationCodes[(args.attrs.activation as string | undefined) ?? 'linear'];
  if (activation == null || preluActivationWeights != null) return null;
  if (bias != null && (bias.shape.length !== 1 || bias.shape[0] !== outC || !nativeOperands(bias))) return null;
  return { activation, alpha: (args.attrs.leakyreluAlpha as number | undefined) ?? 0, bias: bias != null };
}

/** Forward convolution kernel (Conv2D, FusedConv2D, DepthwiseConv2dNative, FusedDepthwiseConv2D). */
export function forwardKernel(native: OnednnNative, depthwise: boolean, fused: boolean, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { x, filter, bias } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
    const attrs = args.attrs as unknown as ConvAttrs;
    const nchw = attrs.dataFormat === 'NCHW';
    if (!nativeOperands(x, filter)) return fallback(args);
    const g = convGeometry(toNhwcShape(x.shape, attrs.dataFormat), filter.shape, attrs, depthwise);
    const fusion = fused ? fusionOf(args, g.outC) : NO_FUSION;
    if (fusion == null) return fallback(args);
    const operands = fusion.bias ? [x, filter, bias as tf.TensorInfo] : [x, filter];
    return runConv(native, args, { kind: Kind.Forward, g, depthwise, nchw, fusion, operands, outShape: forwardShape(g, nchw) });
  };
}

/**
 * One gradient call as its kernel's inputs and attributes give it: native/conv.h's heap operands
 * (the output excluded), the input and filter shapes, and the gradient's shape.
 */
interface GradientCall {
  operands: tf.TensorInfo[];
  inputShape: number[];
  filterShape: number[];
  outShape: number[];
}

/** The two gradients: each is shaped as the tensor it is for, which its kernel gets as an attribute. */
const GRADIENTS = {
  /** Input gradient (Conv2DBackpropInput, DepthwiseConv2dNativeBackpropInput). */
  data: {
    kind: Kind.BackwardData,
    read(args: KernelArgs): GradientCall {
      const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const { inputShape } = args.attrs as { inputShape: number[] };
      return { operands: [dy, filter], inputShape, filterShape: filter.shape, outShape: inputShape };
    },
  },
  /** Filter gradient (Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter). */
  weights: {
    kind: Kind.BackwardWeights,
    read(args: KernelArgs): GradientCall {
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const { filterShape } = args.attrs as { filterShape: number[] };
      return { operands: [x, dy], inputShape: x.shape, filterShape, outShape: filterShape };
    },
  },
};

/** A gradient kernel: the input gradient (`data`) or the filter gradient (`weights`), plain or depthwise. */
export function gradientKernel(
  native: OnednnNative,
  gradient: keyof typeof GRADIENTS,
  depthwise: boolean,
  fallback: KernelFunc,
): KernelFunc {
  const { kind, read } = GRADIENTS[gradient];
  return (args) => {
    const { operands, inputShape, filterShape, outShape } = read(args);
    if (!nativeOperands(...operands)) return fallback(args);
    const attrs = args.attrs as unknown as ConvAttrs;
    const g = convGeometry(toNhwcShape(inputShape, attrs.dataFormat), filterShape, attrs, depthwise);
    return runConv(native, args, { kind, g, depthwise, nchw: attrs.dataFormat === 'NCHW', fusion: NO_FUSION, operands, outShape });
  };
}

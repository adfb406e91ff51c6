/**
 * A body from any Keras-converted TF.js LayersModel, cut like fastai's create_body: everything
 * before its last pooling layer (searching from the end), or the whole model if it already ends
 * in a feature map. The kept layers are re-applied to a new
 * [size, size, 3] input, so the file's own input size does not constrain ringtune's.
 */
import * as tf from '@tensorflow/tfjs';
import { Body, evenSplit } from './body';
import { loadModelDir } from './io';

function isPooling(layer: tf.layers.Layer): boolean {
  return /Pool/.test(layer.getClassName());
}

/**
 * The tensor to cut at and the layers that come before it, in the file's topological order.
 * A model that already ends in a feature map (include_top=False, pooling=None) is kept whole:
 * its last pooling layer may be an early one (ResNet50's pool1), and cutting there would leave
 * a stem without a body.
 */
function cutPoint(src: tf.LayersModel, file: string): { cut: tf.SymbolicTensor; keep: tf.layers.Layer[] } {
  const out = src.outputs[0];
  if (src.outputs.length === 1 && out.shape.length === 4) return { cut: out, keep: src.layers };
  for (let i = src.layers.length - 1; i >= 0; i--) {
    const layer = src.layers[i];
    if (!isPooling(layer)) continue;
    if (layer.inboundNodes.length !== 1) throw new Error(`${file}: pooling layer '${layer.name}' is used more than once; cannot cut there`);
    return { cut: layer.inboundNodes[0].inputTensors[0], keep: src.layers.slice(0, i) };
  }
  throw new Error(`${file}: no pooling layer to cut the body at, and its output [${out.shape}] is not a feature map`);
}

/** Re-applies `layers` (topologically ordered) starting from `input`; returns the new tensor for `target`. */
function replay(
  src: tf.LayersModel,
  layers: tf.layers.Layer[],
  input: tf.SymbolicTensor,
  target: tf.SymbolicTensor,
  file: string,
): tf.SymbolicTensor {
  const mapped = new Map<number, tf.SymbolicTensor>([[src.inputs[0].id, input]]);
  for (const layer of layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    if (layer.inboundNodes.length !== 1)
      throw new Error(`${file}: layer '${layer.name}' is shared (called ${layer.inboundNodes.length} times); not supported`);
    const node = layer.inboundNodes[0];
    const ins = node.inputTensors.map((t) => mapped.get(t.id));
    if (ins.some((t) => t === undefined))
      throw new Error(`${file}: layer '${layer.name}' takes an input that does not come from the model input`);
    const out = layer.apply(ins.length === 1 ? ins[0]! : (ins as tf.SymbolicTensor[]), node.callArgs);
    const outs = (Array.isArray(out) ? out : [out]) as tf.SymbolicTensor[];
    node.outputTensors.forEach((t, k) => mapped.set(t.id, outs[k]));
  }
  const result = mapped.get(target.id);
  if (!result) throw new Error(`${file}: could not rebuild the body up to its cut point`);
  return result;
}

/** Loads a LayersModel file and turns it into a body on `input`; its own split is two halves. */
export async function kerasBody(file: string, input: tf.SymbolicTensor): Promise<Body> {
  const src = await loadModelDir(file);
  try {
    return cutBody(src, file, input);
  } finally {
    // Drops the file model's hold on its layers: the cut-off classifier is freed now, the kept
    // layers (re-applied, so referenced twice) when the new model is disposed.
    src.dispose();
  }
}

function cutBody(src: tf.LayersModel, file: string, input: tf.SymbolicTensor): Body {
  if (src.inputs.length !== 1) throw new Error(`${file}: model has ${src.inputs.length} inputs; a body needs exactly one image input`);
  const inShape = src.inputs[0].shape;
  if (inShape.length !== 4 || inShape[3] !== 3)
    throw new Error(`${file}: model input shape [${inShape}] is not [batch, h, w, 3] (channels-last RGB)`);
  const { cut, keep } = cutPoint(src, file);
  let output: tf.SymbolicTensor;
  try {
    output = replay(src, keep, input, cut, file);
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(file) ? msg : `${file}: cannot apply its body to a ${input.shape[1]}x${input.shape[2]} input: ${msg}`);
  }
  if (output.shape.length !== 4) throw new Error(`${file}: body output [${output.shape}] is not a feature map [batch, h, w, c]`);
  // Each weighted layer is a unit; a weightless layer joins the next weighted one.
  const unitOf = new Map<tf.layers.Layer, number>();
  let nUnits = 0;
  for (const layer of keep) {
    layer.trainable = true; // freezing is ringtune's business (groups), not the file's
    unitOf.set(layer, nUnits);
    if (layer.weights.length > 0) nUnits++;
  }
  if (nUnits < 2) throw new Error(`${file}: body has ${nUnits} layer(s) with weights; need at least 2 to split into groups`);
  for (const [layer, u] of unitOf) if (u >= nUnits) unitOf.set(layer, nUnits - 1);
  return { output, unitOf, nUnits, split: evenSplit(nUnits, 2), nf: output.shape[3] as number };
}

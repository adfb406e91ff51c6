/**
 * Networks ringtune trains: a body (built-in architecture or a Keras-converted model file) plus
 * fastai's head, with deterministic seeded init and fastai-style parameter groups.
 */
import * as tf from '@tensorflow/tfjs';
import { statSync } from 'fs';
import { Body, evenSplit } from './body';
import { RESNETS, resnetBody } from './resnet';
import { mobilenetV2Body } from './mobilenet';
import { createHead, type HeadOptions } from './head';
import { initLayers, weightKind } from './init';
import { kerasBody } from './keras';
import { copyBodyWeights } from './pretrained';

export { seedDropout } from './dropout';

/** What to build. Input is [B, size, size, 3] NHWC float32; output logits [B, nClasses]. */
export interface NetSpec {
  /** A built-in name (see architectures()) or the path of a TF.js LayersModel model.json (or its folder). */
  arch: string;
  nClasses: number;
  size: number;
  /** Parameter groups; default = the arch's own split (resnet: 3 = stem..stage2 / stage3-4 / head). */
  groups?: number;
  /** Deterministic init: the same spec gives bitwise identical weights in every process. */
  seed: number;
  /** Path of a model.json (or its folder) whose body weights are copied in. */
  pretrained?: string;
  /** fastai create_head options (defaults: HEAD_DEFAULTS in shared/config.ts). */
  head?: HeadOptions;
}

/** One trainable weight and the facts the optimizer needs about it. */
export interface ParamInfo {
  variable: tf.LayerVariable;
  group: number;
  /** A normalization layer's gamma/beta (trainable when frozen, no weight decay). */
  norm: boolean;
  bias: boolean;
}

/** A built network and its bookkeeping. */
export interface Net {
  model: tf.LayersModel;
  /** Every trainable weight exactly once, in model order. */
  params: ParamInfo[];
  /** BatchNorm moving mean/variance (non-trainable), in model order. */
  bnStats: tf.LayerVariable[];
  nGroups: number;
  /** Input normalization the model expects (of pixels scaled to [0, 1]). */
  stats: { mean: number[]; std: number[] };
}

const IMAGENET_STATS = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const NORM_LAYERS = new Set(['BatchNormalization', 'LayerNormalization']);

const BUILTIN: Record<string, (input: tf.SymbolicTensor) => Body> = {
  ...Object.fromEntries(RESNETS.map((a) => [a, (input: tf.SymbolicTensor) => resnetBody(a, input)])),
  mobilenet_v2: mobilenetV2Body,
};

/** Names of the built-in architectures. */
export function architectures(): string[] {
  return Object.keys(BUILTIN);
}

function checkSpec(spec: NetSpec): void {
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (!posInt(spec.nClasses)) throw new Error(`nClasses must be a positive integer, got ${spec.nClasses}`);
  if (!posInt(spec.size)) throw new Error(`size must be a positive integer, got ${spec.size}`);
  if (!Number.isInteger(spec.seed)) throw new Error(`seed must be an integer, got ${spec.seed}`);
  if (spec.groups !== undefined && !(Number.isInteger(spec.groups) && spec.groups >= 2)) {
    throw new Error(`groups must be an integer >= 2 (body chunks + head), got ${spec.groups}`);
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

async function buildBody(spec: NetSpec, input: tf.SymbolicTensor): Promise<{ body: Body; fromFile: boolean }> {
  const builder = BUILTIN[spec.arch];
  if (builder) {
    let body: Body;
    try {
      body = builder(input);
    } catch (e) {
      throw new Error(`cannot build ${spec.arch} for ${spec.size}x${spec.size} inputs: ${(e as Error).message}`);
    }
    const [, h, w] = body.output.shape as number[];
    if (!(h >= 1 && w >= 1)) throw new Error(`input size ${spec.size} is too small for ${spec.arch}`);
    return { body, fromFile: false };
  }
  if (spec.arch.endsWith('.json') || isDirectory(spec.arch)) return { body: await kerasBody(spec.arch, input), fromFile: true };
  throw new Error(`unknown arch '${spec.arch}': use one of ${architectures().join(', ')} or a path to a TF.js model.json`);
}

/** Unit boundaries of the body groups: the arch's own split, or `groups - 1` even chunks. */
function bodySplit(body: Body, groups: number | undefined, arch: string): number[] {
  if (groups === undefined || groups === body.split.length + 2) return body.split;
  if (groups - 1 > body.nUnits)
    throw new Error(`groups ${groups}: ${arch} body has only ${body.nUnits} units to split into ${groups - 1} groups`);
  return evenSplit(body.nUnits, groups - 1);
}

/** Builds, initializes (seeded) and optionally loads pretrained body weights into a network. */
export async function buildNet(spec: NetSpec): Promise<Net> {
  checkSpec(spec);
  const input = tf.input({ shape: [spec.size, spec.size, 3], name: 'input', dtype: 'float32' });
  const { body, fromFile } = await buildBody(spec, input);
  const head = createHead(body.output, spec.nClasses, spec.head);
  const model = tf.model({ inputs: input, outputs: head.logits, name: 'ringtune' });
  try {
    const headLayers = new Set(head.layers);
    initLayers(model, fromFile ? headLayers : new Set(model.layers), headLayers, spec.seed);
    const weighted = model.layers.filter((l) => l.weights.length > 0);
    if (spec.pretrained)
      await copyBodyWeights(
        spec.pretrained,
        weighted.filter((l) => !headLayers.has(l)),
      );
    const split = bodySplit(body, spec.groups, spec.arch);
    const nGroups = split.length + 2;
    const groupOf = (layer: tf.layers.Layer): number => {
      if (headLayers.has(layer)) return nGroups - 1;
      const unit = body.unitOf.get(layer);
      if (unit === undefined) throw new Error(`layer '${layer.name}' belongs to no body unit`);
      return split.filter((b) => b <= unit).length;
    };
    const params: ParamInfo[] = [];
    const bnStats: tf.LayerVariable[] = [];
    for (const layer of weighted) {
      const group = groupOf(layer);
      const norm = NORM_LAYERS.has(layer.getClassName());
      for (const variable of layer.trainableWeights) params.push({ variable, group, norm, bias: !norm && weightKind(variable) === 'bias' });
      if (layer.getClassName() === 'BatchNormalization') bnStats.push(...layer.nonTrainableWeights);
    }
    return { model, params, bnStats, nGroups, stats: IMAGENET_STATS };
  } catch (e) {
    model.dispose(); // a failed build leaves no tensors behind
    throw e;
  }
}

/** Params that get gradients when groups [0, freezeTo) are frozen: groups >= freezeTo plus every norm param (train_bn). Negative freezeTo counts from the end, like fastai's freeze_to. */
export function trainableParams(net: Net, freezeTo: number): ParamInfo[] {
  const n = freezeTo < 0 ? net.nGroups + freezeTo : freezeTo;
  return net.params.filter((p) => p.group >= n || p.norm);
}

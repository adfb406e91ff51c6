/** What every body builder returns: the feature map plus the unit bookkeeping used to split groups. */
import * as tf from '@tensorflow/tfjs';

/** A network body: input -> feature map [B, h, w, nf], with layers tagged by unit. */
export interface Body {
  output: tf.SymbolicTensor;
  unitOf: Map<tf.layers.Layer, number>;
  nUnits: number;
  /** Arch's own split: unit indices at which body groups 1, 2, ... begin (fastai's splitter). */
  split: number[];
  /** Channels of the feature map (fastai's `nf`). */
  nf: number;
}

/** Unit boundaries that cut `nUnits` units into `chunks` contiguous, nearly equal chunks. */
export function evenSplit(nUnits: number, chunks: number): number[] {
  if (chunks > nUnits) throw new Error(`cannot split ${nUnits} body units into ${chunks} groups`);
  const bounds: number[] = [];
  for (let i = 1; i < chunks; i++) bounds.push(Math.floor((i * nUnits) / chunks));
  return bounds;
}

/**
 * FlatAdam's fused pass run by the oneDNN addon (native/adam.cc) instead of in JS: the same double
 * operations in the same order, so the weights and moments are bitwise those of adamLoop
 * (shared/optim.ts) and replicas using either stay identical.
 */
import type { AdamLoop } from '../../shared/optim';
import { onednnNative } from './onednn';

/** The native loop, or null where the addon is not loaded (FlatAdam then runs adamLoop). */
export function nativeAdamLoop(): AdamLoop | null {
  const { native } = onednnNative();
  if (!native) return null;
  const desc = new Float64Array(10);
  return (p, g, m, v, off, len, c) => {
    desc.set([off, len, c.f, c.mom, c.damp, c.sqrMom, c.sqrDamp, c.scale, c.invDebias2, c.eps]);
    native.adam(p, g, m, v, desc);
  };
}

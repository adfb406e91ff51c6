/**
 * Combinations of architecture and backend whose training is known to differ from the cpu backend
 * beyond float32 rounding (README, Known limits): the run says so at start instead of training on
 * wrong gradients in silence.
 */

const KNOWN_GRADIENT_LIMITS: { arch: string; backend: string; what: string }[] = [
  {
    arch: 'mobilenet_v2',
    backend: 'webgpu',
    what: "some depthwise blocks' BatchNorm gradients differ from cpu's far beyond rounding (measured at 96 px, batch 8)",
  },
];

/** The warning for training `arch` on `backend`, or null when none is known. */
export function knownLimitWarning(arch: string, backend: string): string | null {
  const hit = KNOWN_GRADIENT_LIMITS.find((l) => l.arch === arch && l.backend === backend);
  return hit ? `ringtune: warning: ${arch} on ${backend}: ${hit.what}; see README, Known limits (--backend wasm trains it exactly)` : null;
}

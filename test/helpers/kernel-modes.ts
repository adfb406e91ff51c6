/** The wasm kernel sets kernel tests run: ringtune's wasm kernels always, oneDNN's wherever oneDNN is installed. */
import { existsSync } from 'fs';
import { selectBackend } from '../../worker/backend';
import { registerWasmKernels } from '../../worker/kernels';

export type KernelMode = 'wasm kernels' | 'oneDNN kernels';

/** Where Debian's libdnnl-dev puts oneDNN's header: with it installed the addon must load. */
const ONEDNN_HEADER = '/usr/include/oneapi/dnnl/dnnl.hpp';

/** Modes to test here: oneDNN's whenever its headers are installed (so a broken build fails the tests instead of skipping them). */
export function kernelModes(): KernelMode[] {
  return existsSync(ONEDNN_HEADER) ? ['wasm kernels', 'oneDNN kernels'] : ['wasm kernels'];
}

/** Makes wasm the backend with the kernels of `mode` registered; throws when oneDNN's were asked for and did not load. */
export async function useKernels(mode: KernelMode): Promise<void> {
  await selectBackend('wasm');
  const choice = registerWasmKernels(mode === 'oneDNN kernels');
  if (mode === 'oneDNN kernels' && !choice.onednn)
    throw new Error(`oneDNN is installed (${ONEDNN_HEADER}) but its kernels did not load: ${choice.detail}`);
}

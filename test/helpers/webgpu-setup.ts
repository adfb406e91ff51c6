/**
 * Jest global setup: looks once for a real WebGPU adapter (Dawn on a Vulkan driver). The tests that
 * need one read RINGTUNE_TEST_WEBGPU_ADAPTER (see webgpu.ts); without an adapter they skip, and
 * this prints the one line that says why and how to get one. CI sets RINGTUNE_REQUIRE_WEBGPU=1:
 * there a missing adapter fails the run instead.
 */
import { probeAdapters, VULKAN_DRIVER_RECIPE } from '../../worker/webgpu-probe';

export default function findWebgpuAdapter(): void {
  let found: string[] = [];
  let why = 'Dawn found no adapter';
  try {
    found = probeAdapters({ flags: [] }).dawn.map((a) => a.name);
  } catch (e) {
    why = (e as Error).message;
  }
  if (found.length > 0) {
    process.env.RINGTUNE_TEST_WEBGPU_ADAPTER = found[0];
    return;
  }
  const line = `webgpu tests skipped: no WebGPU adapter (${why}). ${VULKAN_DRIVER_RECIPE}`;
  if (process.env.RINGTUNE_REQUIRE_WEBGPU === '1')
    throw new Error(`RINGTUNE_REQUIRE_WEBGPU=1, but ${line.replace('webgpu tests skipped: ', '')}`);
  process.stdout.write(`\n${line}\n`);
}

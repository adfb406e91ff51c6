/** For tests that need a real WebGPU adapter (found once by webgpu-setup.ts, the jest global setup). */

/** The name of the adapter Dawn found, or undefined when there is none (the setup printed why). */
export const webgpuAdapter: string | undefined = process.env.RINGTUNE_TEST_WEBGPU_ADAPTER;

/** `test` when a real adapter exists, `test.skip` otherwise. */
export const withAdapter: jest.It = webgpuAdapter ? test : test.skip;

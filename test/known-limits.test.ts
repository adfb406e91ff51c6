import { knownLimitWarning } from '../shared/known-limits';

describe('known limits', () => {
  it('warns for mobilenet_v2 on webgpu, naming the fix, and for nothing else', () => {
    expect(knownLimitWarning('mobilenet_v2', 'webgpu')).toMatch(
      /^ringtune: warning: mobilenet_v2 on webgpu: .*Known limits \(--backend wasm/,
    );
    for (const [arch, backend] of [
      ['mobilenet_v2', 'wasm'],
      ['resnet-small', 'webgpu'],
      ['resnet18', 'webgpu'],
    ])
      expect(knownLimitWarning(arch, backend)).toBeNull();
  });
});

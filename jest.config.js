/** Unit tests run on the TypeScript sources; integration tests spawn the compiled CLI in dist/. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  // Finds a real WebGPU adapter once; the webgpu tests skip without one (one printed line), or fail under RINGTUNE_REQUIRE_WEBGPU=1.
  globalSetup: '<rootDir>/test/helpers/webgpu-setup.ts',
  testTimeout: 120000,
  maxWorkers: 2,
};

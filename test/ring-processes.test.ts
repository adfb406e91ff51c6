/** Ring all-reduce with every rank in its own Node process (compiled dist/test/helpers/ring-peer.js). */
import { payloadBytesSent } from '../worker/ring/layout';
import { peerInput } from './helpers/ring-peer';
import { RingPeerGroup } from './helpers/ring-peer-group';

/** float64 reference sum and the sum of magnitudes (the fp32 rounding bound scales with it). */
function reference(floats: number, world: number, seed: number): { sum: Float64Array; mag: Float64Array } {
  const sum = new Float64Array(floats);
  const mag = new Float64Array(floats);
  for (let r = 0; r < world; r++) {
    peerInput(floats, r, seed).forEach((x, i) => {
      sum[i] += x;
      mag[i] += Math.abs(x);
    });
  }
  return { sum, mag };
}

describe('ring across processes', () => {
  for (const [world, transport] of [
    [2, 'tcp'],
    [3, 'auto'],
  ] as const) {
    test(`${world} processes over ${transport}: reference sum, identical bits on every rank`, async () => {
      const floats = 70001;
      const group = await RingPeerGroup.start(world, { transport, chunkBytes: 32 * 1024, timeoutMs: 10000 });
      try {
        const replies = await group.request(() => ({ type: 'check', floats, seed: 42, tag: 3 }));
        const bits = replies.map((r) => (r as { bits: string }).bits);
        expect(new Set(bits).size).toBe(1);
        const out = new Float32Array(Buffer.from(bits[0], 'base64').buffer.slice(0));
        const { sum, mag } = reference(floats, world, 42);
        for (let i = 0; i < floats; i++) {
          if (!(Math.abs(out[i] - sum[i]) <= world * 2 ** -24 * mag[i])) throw new Error(`element ${i}: ${out[i]} vs ${sum[i]}`);
        }
        replies.forEach((r, rank) => expect((r as { bytesSent: number }).bytesSent).toBe(payloadBytesSent(floats, world, rank, 8192)));
      } finally {
        await group.close();
      }
    });
  }

  test('a rank process killed mid-ring: its right neighbour fails naming it, within the timeout', async () => {
    const group = await RingPeerGroup.start(3, { timeoutMs: 700 });
    process.kill(group.pids[1], 'SIGKILL');
    const t0 = Date.now();
    const replies = await group.requestSettled(() => ({ type: 'check', floats: 1000, seed: 1, tag: 1 }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(replies[1]).toMatchObject({ type: 'error', message: expect.stringMatching(/rank 1 exited|rank 1 is not running/) });
    expect(replies[2]).toMatchObject({ type: 'error', message: expect.stringMatching(/no frame from rank 1 .*within 700 ms/) });
    expect(replies[0].type).toBe('error'); // its right neighbour is dead, so it cannot finish either
    await group.close().catch(() => undefined);
  });
});

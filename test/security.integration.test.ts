/**
 * Hostile peers against a real run: with CURVE, processes without the job's keys cannot join or
 * inject anything and the result is bitwise what it is without them; without CURVE, random and
 * truncated frames thrown at the coordinator are refused with a logged error, never a crash.
 */
import { spawn, type ChildProcess } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as zmq from 'zeromq';
import { pack } from 'msgpackr';
import { makeImageFolders } from './helpers/images';
import { CLI } from './helpers/cli';
import { runCoordinator } from '../coordinator/run';
import { DEFAULTS } from '../shared/config';
import { generateJobKeys, KEYS_ENV, clientOptions, stopZapHandler } from '../shared/curve';
import { PROTOCOL_VERSION } from '../shared/protocol';
import { Rng } from '../shared/rng';

const dir = mkdtempSync(join(tmpdir(), 'ringtune-security-'));
const data = join(dir, 'data');

beforeAll(async () => {
  await makeImageFolders(data, { classes: ['a', 'b'], trainPerClass: 16, validPerClass: 4, size: 16 });
});
afterAll(() => {
  stopZapHandler();
  delete process.env[KEYS_ENV.publicKey];
  delete process.env[KEYS_ENV.secretKey];
  rmSync(dir, { recursive: true, force: true });
});

/**
 * One tiny run: coordinator here, 2 real workers; `attack` runs against the coordinator's address
 * once the workers are in, and training waits for it (a run of four steps could end before an
 * attack on a timer began).
 */
async function run(
  name: string,
  attack?: (endpoint: string) => Promise<void>,
  attackRing?: (endpoints: string[]) => Promise<void>,
): Promise<{ weights: Buffer; lines: string[] }> {
  const out = join(dir, name);
  const lines: string[] = [];
  let procs: ChildProcess[] = [];
  let coordinator = '';
  try {
    await runCoordinator({
      bind: 'tcp://127.0.0.1:*',
      world: 2,
      timeoutMs: 60_000,
      log: (l) => lines.push(l),
      // The ring, not shared memory: its sockets are what the ring attacks target.
      config: { ...DEFAULTS, data, size: 16, bs: 4, backend: 'wasm', pretrained: null, epochs: 1, freezeEpochs: 0, out, allreduce: 'ring' },
      onListening: (endpoint) => {
        procs = [0, 1].map(() =>
          spawn(process.execPath, [CLI, 'worker', '--connect', endpoint], { stdio: ['ignore', 'ignore', 'pipe'], env: process.env }),
        );
        for (const p of procs) p.stderr!.on('data', (d) => lines.push(String(d)));
        coordinator = endpoint;
      },
      onRing: async (endpoints) => {
        if (attack) await attack(coordinator);
        if (attackRing) await attackRing(endpoints);
      },
    });
    // Workers log refusals on their own stderr: wait until they have exited and it is all read.
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.on('close', r)))));
    return { weights: readFileSync(join(out, 'weights.bin')), lines };
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

/** Sends `messages` from a fresh Dealer (with the given socket options), then closes it. */
async function throwAt(endpoint: string, messages: Buffer[][], options: Record<string, unknown> = {}): Promise<void> {
  const sock = new zmq.Dealer({ linger: 0, sendTimeout: 500, ...options });
  sock.connect(endpoint);
  for (const m of messages) await sock.send(m).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  sock.close();
}

/** Pushes forged ring frames (a plausible 40-byte header and a payload) into every worker's ring socket. */
async function pushIntoRing(endpoints: string[], optionSets: Record<string, unknown>[]): Promise<void> {
  for (const e of endpoints) {
    for (const address of e.split(';').filter((a) => a.startsWith('tcp://') || a.startsWith('ipc://'))) {
      for (const options of optionSets) {
        const push = new zmq.Push({ linger: 0, sendTimeout: 300, ...options });
        push.connect(address);
        for (let i = 0; i < 3; i++) await push.send([Buffer.alloc(40, 1), Buffer.alloc(4096, 2)]).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
        push.close();
      }
    }
  }
}

const forged = (): Buffer[][] => [
  [pack({ v: PROTOCOL_VERSION, type: 'hello', host: 'intruder', pid: 1, order: 0 })],
  [
    pack({
      v: PROTOCOL_VERSION,
      type: 'stepDone',
      step: 0,
      loss: 0,
      n: 1,
      computeMs: 0,
      allreduceMs: 0,
      allreduceWaitMs: 0,
      allreduceBytes: 0,
      tensors: 0,
      rssBytes: 0,
      jsHeapBytes: 0,
    }),
  ],
  [pack({ v: PROTOCOL_VERSION, type: 'model', modelJson: '{}' }), Buffer.alloc(1024, 7)],
];

describe('with CURVE keys', () => {
  const keys = generateJobKeys();
  let reference: Buffer;
  beforeAll(async () => {
    process.env[KEYS_ENV.publicKey] = keys.publicKey;
    process.env[KEYS_ENV.secretKey] = keys.secretKey;
    reference = (await run('curve-reference')).weights;
  });

  it('peers without the job keys cannot join or inject, and the result is unchanged', async () => {
    const stranger = generateJobKeys();
    const attacked = await run('curve-attacked', async (endpoint) => {
      await throwAt(endpoint, forged()); // no CURVE at all: the handshake never completes
      await throwAt(endpoint, forged(), clientOptions({ ...stranger })); // a CURVE client with another key pair
      await throwAt(endpoint, forged(), {
        curveServerKey: keys.publicKey,
        curvePublicKey: stranger.publicKey,
        curveSecretKey: stranger.secretKey,
      }); // knows the server key only
    });
    expect(attacked.lines.join('\n')).toMatch(/refused a connection from 127\.0\.0\.1: it does not hold this job's CURVE key/);
    expect(attacked.weights.equals(reference)).toBe(true);
  });

  it("nobody without the keys can push a gradient frame into a worker's ring socket", async () => {
    const stranger = generateJobKeys();
    const attacked = await run('curve-ring-attacked', undefined, (endpoints) =>
      pushIntoRing(endpoints, [
        {},
        clientOptions(stranger),
        { curveServerKey: keys.publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey },
      ]),
    );
    expect(attacked.weights.equals(reference)).toBe(true);
  });
});

describe('fuzzing the coordinator (no CURVE)', () => {
  beforeAll(() => {
    delete process.env[KEYS_ENV.publicKey];
    delete process.env[KEYS_ENV.secretKey];
  });

  it('refuses random, truncated and oversized input with a logged error and finishes the run unharmed', async () => {
    const reference = (await run('fuzz-reference')).weights;
    const rng = new Rng(99);
    const junk: Buffer[][] = [];
    const valid = pack({
      v: PROTOCOL_VERSION,
      type: 'stepDone',
      step: 0,
      loss: 0,
      n: 1,
      computeMs: 0,
      allreduceMs: 0,
      allreduceWaitMs: 0,
      allreduceBytes: 0,
      tensors: 0,
      rssBytes: 0,
      jsHeapBytes: 0,
    });
    for (let i = 0; i < 200; i++) {
      const kind = i % 5;
      const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => rng.int(256)));
      if (kind === 0) junk.push([bytes(1 + rng.int(64))]);
      else if (kind === 1) junk.push([valid.subarray(0, rng.int(valid.length))]);
      else if (kind === 2)
        junk.push([
          pack({ v: PROTOCOL_VERSION, type: 'model', modelJson: '{}' }),
          ...Array.from({ length: rng.int(4) }, () => bytes(rng.int(32))),
        ]);
      else if (kind === 3) junk.push([pack({ v: rng.int(5), type: ['hello', 'ready', 'stepDone', 'x'][rng.int(4)], step: 'nope' })]);
      else junk.push([pack({ v: PROTOCOL_VERSION, type: 'ready', ringEndpoint: 5, weightsHash: null })]);
    }
    junk.push([Buffer.alloc(0)]);
    const fuzzed = await run('fuzz-attacked', (endpoint) => throwAt(endpoint, junk));
    const text = fuzzed.lines.join('\n');
    expect(text).toMatch(/ringtune: (refused a message|ignored)/);
    expect(text).not.toMatch(/Segmentation|Napi|RangeError|TypeError/);
    expect(fuzzed.weights.equals(reference)).toBe(true);
  });

  it('without CURVE the same ring injection does reach a worker (so the CURVE test above can fail)', async () => {
    let failed: Error | null = null;
    try {
      await run('plain-ring-attacked', undefined, (endpoints) => pushIntoRing(endpoints, [{}]));
    } catch (e) {
      failed = e as Error;
    }
    expect(failed?.message).toMatch(/rank \d/);
  });
});

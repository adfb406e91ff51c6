import { pack } from 'msgpackr';
import * as zmq from 'zeromq';
import { COORDINATOR_SILENT_MS, decodeCoordMsg, decodeWorkerMsg, encode, PROTOCOL_VERSION, ProtocolError } from '../shared/protocol';
import { DEFAULTS } from '../shared/config';
import { startHeartbeat } from '../worker/heartbeat';

describe('protocol', () => {
  it('round-trips a header with its raw frames', () => {
    const weights = new Uint8Array([1, 2, 3, 4, 5]);
    const frames = encode({ type: 'model', modelJson: '{}' }, [weights]);
    const { msg, frames: data } = decodeWorkerMsg(frames, 'rank 0');
    expect(msg).toMatchObject({ type: 'model', modelJson: '{}' });
    expect([...data[0]]).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses a peer that speaks another protocol version, saying which', () => {
    const frames = [pack({ v: PROTOCOL_VERSION + 1, type: 'hello', host: 'h', pid: 1 })];
    expect(() => decodeWorkerMsg(frames, 'worker rank 3')).toThrow(
      new RegExp(`worker rank 3 speaks ringtune protocol v${PROTOCOL_VERSION + 1}`),
    );
  });

  it('refuses unknown types, missing fields, wrong frame counts and garbage', () => {
    expect(() => decodeWorkerMsg([pack({ v: PROTOCOL_VERSION, type: 'nope' })], 'x')).toThrow(ProtocolError);
    expect(() => decodeWorkerMsg([pack({ v: PROTOCOL_VERSION, type: 'hello', host: 'h' })], 'x')).toThrow(/field 'pid'/);
    expect(() => decodeWorkerMsg([pack({ v: PROTOCOL_VERSION, type: 'model', modelJson: '{}' })], 'x')).toThrow(
      /0 data frames, expected 1/,
    );
    expect(() => decodeWorkerMsg([Buffer.from([0xc1, 0xff, 0x00])], 'x')).toThrow(ProtocolError);
    expect(() => decodeWorkerMsg([pack([1, 2, 3])], 'x')).toThrow(/not a map/);
    expect(() => decodeWorkerMsg([], 'x')).toThrow(/empty/);
    expect(() => decodeCoordMsg([pack({ v: PROTOCOL_VERSION, type: 'step', step: 1 })])).toThrow(/field/);
  });

  const step = {
    type: 'step' as const,
    step: 3,
    phase: 0,
    phaseName: 'frozen',
    epoch: 0,
    freezeTo: 2,
    lrs: [1e-4, 1e-3],
    mom: 0.9,
    indices: [1, 2],
    next: [3, 4],
  };

  it('accepts every well-formed coordinator order', () => {
    for (const next of [[3, 4], null])
      expect(decodeCoordMsg(encode({ ...step, next })).msg).toEqual({ v: PROTOCOL_VERSION, ...step, next });
  });

  const config: Record<string, unknown> = { ...DEFAULTS, data: '/data', nClasses: 2 };
  const coord = (msg: Record<string, unknown>) => () => decodeCoordMsg([pack({ v: PROTOCOL_VERSION, ...msg })]);

  it.each([
    ['next', 'later'],
    ['next', [5, -1]],
    ['next', [0.5]],
    ['next', undefined],
    ['indices', [1, '2']],
    ['indices', null],
    ['lrs', [1e-3, NaN]],
  ])("refuses a step whose '%s' is %p, naming the field", (field, value) => {
    expect(coord({ ...step, [field]: value })).toThrow(ProtocolError);
    expect(coord({ ...step, [field]: value })).toThrow(new RegExp(`message 'step' from coordinator: field '${field}' must be`));
  });

  it('says what a field must be', () => {
    expect(coord({ ...step, next: [-1] })).toThrow(/field 'next' must be null or an array, each item a whole number >= 0/);
    expect(coord({ type: 'ring', endpoints: ['tcp://a:1'], allreduce: 'tcp', shmName: '' })).toThrow(
      /field 'allreduce' must be one of shm, ring/,
    );
  });

  it("checks a rank's part of the hierarchical all-reduce and its rings", () => {
    const hier = { host: 1, hosts: 2, localRank: 0, localWorld: 2, slices: 2, owned: [0], hostRanks: [2, 3] };
    const ring = (h: unknown) => coord({ type: 'ring', endpoints: [], allreduce: 'hier', shmName: '/x-h1', hier: h });
    expect(ring(hier)).not.toThrow();
    expect(ring(null)).not.toThrow();
    expect(ring({ ...hier, owned: [-1] })).toThrow(
      /field 'hier' must be null or a map with host .*owned \(an array, each item a whole number >= 0\)/,
    );
    expect(ring(undefined)).toThrow(/field 'hier'/);
    const rings = (r: unknown) => coord({ type: 'hierRings', rings: [r] });
    expect(rings({ slice: 0, ranks: [0, 2], endpoints: ['tcp://a:1', 'tcp://b:2'] })).not.toThrow();
    expect(rings({ slice: 0, ranks: [0, 2], endpoints: [1] })).toThrow(/field 'rings'/);
    expect(() => decodeWorkerMsg([pack({ v: PROTOCOL_VERSION, type: 'hierBound', endpoints: 'tcp://a:1' })], 'x')).toThrow(
      /field 'endpoints'/,
    );
    expect(() => decodeWorkerMsg([pack({ v: PROTOCOL_VERSION, type: 'hello', host: 'h', pid: 1, order: 1.5 })], 'x')).toThrow(
      /field 'order' must be null or an integer/,
    );
  });

  it('checks the arrays nested in validate and welcome orders', () => {
    const batches = (indices: unknown[], real: unknown) => coord({ type: 'validate', epoch: 0, batches: [{ indices, real }] });
    expect(batches([0, 1], 2)).not.toThrow();
    expect(batches([0, -1], 2)).toThrow(/field 'batches' must be an array, each item a map with indices/);
    expect(batches([0, 1], 'two')).toThrow(/field 'batches'/);
    const welcome = (items: unknown) => coord({ type: 'welcome', rank: 0, world: 1, config, items, validItems: [] });
    expect(welcome([{ file: 'a/1.png', label: 0 }])).not.toThrow();
    expect(welcome([{ file: 'a/1.png' }])).toThrow(/field 'items'/);
    expect(welcome([{ file: 'a/1.png', label: 0 }, 'b/2.png'])).toThrow(/field 'items'/);
  });

  it('checks the run config in the welcome, naming the innermost field', () => {
    const welcome = (c: Record<string, unknown>) => coord({ type: 'welcome', rank: 0, world: 1, config: c, items: [], validItems: [] });
    expect(welcome(config)).not.toThrow();
    for (const lrMax of [1e-3, [1e-4, 1e-3], { stop: 1e-3 }, { start: 1e-5, stop: 1e-3 }])
      expect(welcome({ ...config, lrMax })).not.toThrow();
    expect(welcome({ ...config, bs: 0.5 })).toThrow(/field 'config\.bs' must be a whole number >= 0/);
    expect(welcome({ ...config, backend: 'cuda' })).toThrow(/field 'config\.backend' must be one of auto, wasm, cpu, webgpu, tensorflow/);
    expect(welcome({ ...config, lrMax: { start: 1e-5 } })).toThrow(/field 'config\.lrMax' must be null or/);
    expect(welcome({ ...config, moms: [0.95, 0.85] })).toThrow(/field 'config\.moms' must be null or 3 items/);
    const { gradDtype: _, ...missing } = config;
    expect(welcome(missing)).toThrow(/field 'config\.gradDtype' must be one of f32, bf16, fp16/);
    expect(welcome({})).toThrow(/field 'config\.data' must be a string/);
  });

  it('accepts a diverged loss (lr_find stops on it), but not a NaN count', () => {
    const done = {
      type: 'stepDone' as const,
      step: 1,
      loss: NaN,
      n: 4,
      computeMs: 1,
      allreduceMs: 1,
      allreduceWaitMs: 0,
      allreduceBytes: 64,
      tensors: 10,
      rssBytes: 1 << 20,
      jsHeapBytes: 1 << 19,
    };
    expect(decodeWorkerMsg(encode(done), 'rank 0').msg.type).toBe('stepDone');
    expect(() => decodeWorkerMsg(encode({ ...done, n: NaN }), 'rank 0')).toThrow(/field 'n' must be a whole number >= 0/);
  });
});

describe('heartbeat thread', () => {
  it("pings with the shared encoding and ends the worker on the coordinator's abort", async () => {
    const router = new zmq.Router({ linger: 0 });
    await router.bind('tcp://127.0.0.1:*');
    let aborted: (reason: string) => void = () => undefined;
    const abort = new Promise<string>((r) => (aborted = r));
    const beat = startHeartbeat({
      address: router.lastEndpoint!,
      rank: 3,
      onAbort: (reason, final) => aborted(`${reason} (final: ${final})`),
    });
    try {
      const [id, ...frames] = await router.receive();
      expect(decodeWorkerMsg(frames, 'the heartbeat').msg).toEqual({ v: PROTOCOL_VERSION, type: 'heartbeat', rank: 3, pid: process.pid });
      await router.send([id, ...encode({ type: 'abort', reason: 'rank 1 died', final: true })]);
      expect(await abort).toBe('the coordinator aborted the run: rank 1 died (final: true)');
    } finally {
      await beat.stop();
      router.close();
    }
  });

  it("after the coordinator's normal close, silence is not a death: finished, never aborted", async () => {
    const router = new zmq.Router({ linger: 0 });
    await router.bind('tcp://127.0.0.1:*');
    const aborts: string[] = [];
    let finished: () => void = () => undefined;
    const done = new Promise<void>((r) => (finished = r));
    const beat = startHeartbeat({ address: router.lastEndpoint!, rank: 0, onAbort: (r) => aborts.push(r), onFinished: () => finished() });
    try {
      const [id] = await router.receive();
      await router.send([id, ...encode({ type: 'stop', reason: 'run finished' })]);
      await done;
      router.close(); // the coordinator exits: no more answers
      await new Promise((r) => setTimeout(r, COORDINATOR_SILENT_MS + 1500));
      expect(aborts).toEqual([]);
    } finally {
      await beat.stop();
      if (!router.closed) router.close();
    }
  });
});

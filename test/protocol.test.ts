import { pack } from 'msgpackr';
import { decodeCoordMsg, decodeWorkerMsg, encode, PROTOCOL_VERSION, ProtocolError } from '../shared/protocol';

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

  it('accepts every well-formed coordinator order', () => {
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
      next: null,
    };
    expect(decodeCoordMsg(encode(step)).msg).toEqual({ v: PROTOCOL_VERSION, ...step });
  });
});

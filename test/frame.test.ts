/** The ring's header frame: its byte layout (what the other ranks read) and the checks on receipt. */
import { checkHeader, decodeHeader, encodeHeader, HEADER_BYTES, HELLO_STEP, RING_MAGIC, type FrameHeader } from '../worker/ring/frame';

const header: FrameHeader = { world: 4, rank: 3, step: 70000, chunk: 2, wire: 1, tag: -12.5, floats: 2 ** 33 + 1 };

test('a header is 40 bytes: the magic and five u32s, then the tag and buffer length as doubles', () => {
  const b = encodeHeader(header);
  expect(HEADER_BYTES).toBe(40);
  expect(b.length).toBe(40);
  expect([0, 4, 8, 12, 16, 20].map((at) => b.readUInt32LE(at))).toEqual([RING_MAGIC, 4, 3, 70000, 2, 1]);
  expect([b.readDoubleLE(24), b.readDoubleLE(32)]).toEqual([-12.5, 2 ** 33 + 1]);
});

test('decoding gives back every field, the handshake step included', () => {
  const hello = { ...header, step: HELLO_STEP };
  expect(decodeHeader(encodeHeader(header), 'peer 2')).toEqual(header);
  expect(decodeHeader(encodeHeader(hello), 'peer 2')).toEqual(hello);
});

test('a short header, another protocol and a field that differs are errors naming the peer', () => {
  expect(() => decodeHeader(Buffer.alloc(39), 'tcp://10.0.0.2:5000')).toThrow(
    'ring: tcp://10.0.0.2:5000 sent a 39-byte header, expected 40',
  );
  const old = encodeHeader(header);
  old.writeUInt32LE(0x524e4700, 0);
  expect(() => decodeHeader(old, 'peer 2')).toThrow('peer 2 speaks ring protocol 0x524e4700');
  expect(() => checkHeader({ ...header, chunk: 3 }, header, 'peer 2')).toThrow('ring: peer 2 sent chunk 3, expected 2');
  expect(() => checkHeader(header, header, 'peer 2')).not.toThrow();
});

/**
 * The header frame that precedes every ring payload. Fixed binary layout (40 bytes, so ZeroMQ
 * copies it rather than pinning a JS buffer), checked field by field on receipt: a frame from the
 * wrong peer, step, chunk, tag or buffer size is an error naming the peer, never a silent misadd.
 */
import { GRAD_DTYPES, type GradDtype } from '../../shared/config';

/** "RNG" + protocol version 1. Bump the last byte when the frame layout or schedule changes. */
export const RING_MAGIC = 0x524e4701;
/** Step value of the handshake frame sent once by `connect`. */
export const HELLO_STEP = 0xffffffff;

/**
 * The header's fields after the magic (a u32 at byte 0), in byte order: u32s from byte 4, then
 * doubles (a tag may be negative, a buffer length pass 2^32). `wire` is the payload encoding, a wire
 * code (an index into WIRE_NAMES).
 */
const U32_FIELDS = ['world', 'rank', 'step', 'chunk', 'wire'] as const;
const F64_FIELDS = ['tag', 'floats'] as const;
const F64_AT = 4 + 4 * U32_FIELDS.length;
export const HEADER_BYTES = F64_AT + 8 * F64_FIELDS.length;

/** Decoded header fields. */
export type FrameHeader = Record<(typeof U32_FIELDS)[number] | (typeof F64_FIELDS)[number], number>;

export const WIRE_F32 = 0;
export const WIRE_BF16 = 1;
/** IEEE binary16, scaled per frame (Note [fp16 frame] in reduce-fp16.ts). */
export const WIRE_FP16 = 2;
/** Wire dtype names as RingOptions.wire spells them (--grad-dtype); the index is the wire code in the header. */
export const WIRE_NAMES = GRAD_DTYPES;
/** A ring's payload encoding. */
export type WireName = GradDtype;

/** The header wire code for a wire dtype name; throws naming the accepted names. */
export function wireCodeOf(name: string): number {
  const code = (WIRE_NAMES as readonly string[]).indexOf(name);
  if (code < 0) throw new Error(`ring: wire must be one of ${WIRE_NAMES.join(', ')}, got ${name}`);
  return code;
}

/** Encodes a header into a fresh buffer. */
export function encodeHeader(h: FrameHeader): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt32LE(RING_MAGIC, 0);
  U32_FIELDS.forEach((f, i) => b.writeUInt32LE(h[f], 4 + 4 * i));
  F64_FIELDS.forEach((f, i) => b.writeDoubleLE(h[f], F64_AT + 8 * i));
  return b;
}

/** Decodes a header; throws (naming `from`) if it is not a ring header of this protocol version. */
export function decodeHeader(b: Buffer, from: string): FrameHeader {
  if (b.length !== HEADER_BYTES) throw new Error(`ring: ${from} sent a ${b.length}-byte header, expected ${HEADER_BYTES}`);
  const magic = b.readUInt32LE(0);
  if (magic !== RING_MAGIC) {
    throw new Error(`ring: ${from} speaks ring protocol 0x${magic.toString(16)}, this rank speaks 0x${RING_MAGIC.toString(16)}`);
  }
  const h = {} as FrameHeader;
  U32_FIELDS.forEach((f, i) => (h[f] = b.readUInt32LE(4 + 4 * i)));
  F64_FIELDS.forEach((f, i) => (h[f] = b.readDoubleLE(F64_AT + 8 * i)));
  return h;
}

/** Header fields in the order they are checked (the most telling mismatch first). */
const CHECKED: readonly (keyof FrameHeader)[] = ['world', 'rank', 'wire', 'tag', 'floats', 'step', 'chunk'];
/** How a mismatch names a field (built once: every frame is checked). */
const FIELD_NAMES: Partial<Record<keyof FrameHeader, string>> = {
  tag: 'tag (step number)',
  floats: 'buffer length (floats)',
  wire: `wire dtype (${WIRE_NAMES.map((name, code) => `${code} ${name}`).join(', ')})`,
};

/** Throws an error naming `from` on the first field of `got` that differs from `want`. */
export function checkHeader(got: FrameHeader, want: FrameHeader, from: string): void {
  for (const f of CHECKED) {
    if (got[f] !== want[f]) {
      const what = FIELD_NAMES[f] ?? f;
      throw new Error(
        `ring: ${from} sent ${what} ${got[f]}, expected ${want[f]} ` +
          `(frame step ${got.step} chunk ${got.chunk}, tag ${got.tag}): the ranks are not in the same all-reduce`,
      );
    }
  }
}

/**
 * How chunk payloads are encoded on the wire: fp32 (zero-copy views of the caller's buffer), bf16
 * or scaled fp16 (fresh half-size buffers). The all-reduce loop in ring.ts calls only these operations.
 */
import { addInto } from '../reduce/add';
import { addBf16Into, copyBf16Into, encodeBf16, roundToBf16 } from '../reduce/bf16';
import { addFp16Into, copyFp16Into, encodeFp16, fp16PayloadBytes, roundToFp16Frame } from '../reduce/fp16';
import { WIRE_BF16, WIRE_F32, WIRE_FP16 } from './frame';

/** Payload encoding used by one ring. */
export interface WireCodec {
  /** Payload bytes of a frame carrying `floats` floats. */
  payloadBytes(floats: number): number;
  /** Payload for a reduce-scatter region of buf (fp32: a view, see Note [zero-copy lifetimes]). */
  outgoing(region: Float32Array): Buffer;
  /** The owned, fully reduced chunk: finalizes `dst` and returns a payload that never aliases buf. */
  owned(dst: Float32Array, staging: Float32Array): Buffer;
  /** dst += payload. */
  add(dst: Float32Array, payload: Uint8Array): void;
  /** dst = payload. */
  copy(dst: Float32Array, payload: Uint8Array): void;
}

/** Byte view of a float range, for sending without a copy. */
export function bytesOf(f: Float32Array): Buffer {
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

const f32: WireCodec = {
  payloadBytes: (floats) => floats * 4,
  outgoing: bytesOf,
  owned(dst, staging) {
    staging.set(dst);
    return bytesOf(staging);
  },
  add: addInto,
  copy(dst, payload) {
    if (payload.byteLength !== dst.byteLength)
      throw new Error(`ring: cannot copy ${payload.byteLength} bytes into a ${dst.byteLength}-byte chunk`);
    new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(payload);
  },
};

const bf16: WireCodec = {
  payloadBytes: (floats) => floats * 2,
  outgoing: encodeBf16,
  owned(dst) {
    roundToBf16(dst); // the owner keeps exactly what the others will decode
    return encodeBf16(dst);
  },
  add: addBf16Into,
  copy: copyBf16Into,
};

const fp16: WireCodec = {
  payloadBytes: fp16PayloadBytes,
  outgoing: encodeFp16,
  owned: roundToFp16Frame, // the owner keeps exactly what the others will decode
  add: addFp16Into,
  copy: copyFp16Into,
};

const CODECS: Record<number, WireCodec> = { [WIRE_F32]: f32, [WIRE_BF16]: bf16, [WIRE_FP16]: fp16 };

/** The codec for a header wire code. */
export function wireCodec(wire: number): WireCodec {
  const codec = CODECS[wire];
  if (!codec) throw new Error(`ring: no payload codec for wire code ${wire}`);
  return codec;
}

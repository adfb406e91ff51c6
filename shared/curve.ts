/**
 * Authenticated, encrypted links (ZeroMQ CURVE). A job has one key pair, made by the launcher and
 * handed to its processes through the environment (never the command line) or a key file. Every
 * bound socket is a CURVE server with the job's secret key; every connecting socket proves it
 * holds the job's key pair; a ZAP handler in each binding process admits only the job's public key.
 * A peer without the keys cannot complete the handshake, so it can neither join nor inject frames.
 */
import * as zmq from 'zeromq';
import { readFileSync, writeFileSync } from 'fs';

/** The job's key pair, Z85-encoded (40 characters each). */
export interface JobKeys {
  publicKey: string;
  secretKey: string;
}

/** Environment variables that carry the keys: the pair itself, or the path of a key file. */
export const KEYS_ENV = { publicKey: 'RINGTUNE_CURVE_PUBLIC', secretKey: 'RINGTUNE_CURVE_SECRET', file: 'RINGTUNE_KEY_FILE' } as const;

/** A fresh key pair for a job. */
export function generateJobKeys(): JobKeys {
  return zmq.curveKeyPair();
}

function checkKeys(k: Partial<JobKeys>, from: string): JobKeys {
  if (typeof k.publicKey !== 'string' || k.publicKey.length !== 40 || typeof k.secretKey !== 'string' || k.secretKey.length !== 40) {
    throw new Error(`${from}: expected a CURVE key pair (publicKey and secretKey, 40 Z85 characters each)`);
  }
  return { publicKey: k.publicKey, secretKey: k.secretKey };
}

/** Writes a new key file readable by its owner only; an existing file is never overwritten (its mode could be wider). */
export function writeKeyFile(file: string, keys: JobKeys): void {
  try {
    writeFileSync(file, JSON.stringify(keys) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(
      code === 'EEXIST'
        ? `${file} exists: remove it first (a key file is never overwritten)`
        : `cannot write ${file}: ${(e as Error).message}`,
    );
  }
}

/** The job keys from the environment (pair or key file), or null when none are given. */
export function jobKeysFromEnv(env: NodeJS.ProcessEnv = process.env): JobKeys | null {
  if (env[KEYS_ENV.file]) {
    const file = env[KEYS_ENV.file]!;
    let parsed: Partial<JobKeys>;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`key file ${file} (${KEYS_ENV.file}): ${(e as Error).message}`);
    }
    return checkKeys(parsed, `key file ${file}`);
  }
  if (env[KEYS_ENV.publicKey] || env[KEYS_ENV.secretKey]) {
    return checkKeys(
      { publicKey: env[KEYS_ENV.publicKey], secretKey: env[KEYS_ENV.secretKey] },
      `${KEYS_ENV.publicKey}/${KEYS_ENV.secretKey}`,
    );
  }
  return null;
}

/** Socket options of a bound (server) socket. */
export function serverOptions(k: JobKeys): Record<string, unknown> {
  return { curveServer: true, curveSecretKey: k.secretKey, curvePublicKey: k.publicKey, zapDomain: 'ringtune' };
}

/** Socket options of a connecting (client) socket. */
export function clientOptions(k: JobKeys): Record<string, unknown> {
  return { curveServerKey: k.publicKey, curvePublicKey: k.publicKey, curveSecretKey: k.secretKey };
}

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** Z85-encodes bytes (length a multiple of 4), as ZeroMQ prints keys. */
export function z85Encode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0;
    const chunk: string[] = [];
    for (let j = 0; j < 5; j++) {
      chunk.unshift(Z85[v % 85]);
      v = Math.floor(v / 85);
    }
    out += chunk.join('');
  }
  return out;
}

let zap: Promise<void> | null = null;
let zapSocket: zmq.Reply | null = null;
let admitted: { keys: JobKeys; log: (line: string) => void } | null = null;

/**
 * Starts this process's ZAP handler (one per process; a later call changes whose key it admits
 * and where it logs): CURVE clients are admitted only with the job's public key. Every refusal is
 * logged with the peer's address.
 */
export function startZapHandler(k: JobKeys, log: (line: string) => void = (l) => console.error(l)): Promise<void> {
  admitted = { keys: k, log };
  if (zap) return zap;
  const sock = new zmq.Reply({ linger: 0 });
  zapSocket = sock;
  zap = sock.bind('inproc://zeromq.zap.01').then(() => {
    void (async () => {
      try {
        for await (const [version, requestId, , address, , mechanism, credential] of sock) {
          const key = credential && credential.length === 32 ? z85Encode(credential) : '';
          const ok = mechanism?.toString() === 'CURVE' && key === admitted?.keys.publicKey;
          if (!ok)
            admitted?.log(
              `ringtune: refused a connection from ${address?.toString() || 'an unknown address'}: it does not hold this job's CURVE key`,
            );
          await sock.send([version, requestId, ok ? '200' : '400', ok ? 'OK' : 'not a member of this job', '', '']);
        }
      } catch {
        /* closed */
      }
    })();
  });
  return zap;
}

/** Closes this process's ZAP handler (for a process that keeps running, e.g. a test runner). */
export function stopZapHandler(): void {
  zapSocket?.close();
  zapSocket = null;
  zap = null;
  admitted = null;
}

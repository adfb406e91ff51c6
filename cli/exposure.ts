/**
 * Which addresses other machines can reach, and the rule every entry point follows: a process
 * that listens on, or connects over, anything but loopback needs the job's CURVE keys unless the
 * user says --insecure (anyone who reaches such a socket could join the job or push gradients).
 */
import { jobKeysFromEnv, KEYS_ENV } from '../shared/curve';

/** True for host names and addresses only this machine reaches (localhost, 127.0.0.0/8, ::1). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.startsWith('127.') || h === '::1';
}

/** True for ipc:// and inproc:// addresses and tcp on loopback hosts. */
export function isLoopbackAddress(address: string): boolean {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:]+):/.exec(address);
  return !m || isLoopbackHost(m[1]);
}

/**
 * Throws unless the job has keys, `insecure` is set, or every one of `exposed` (what -> a host or
 * a ZeroMQ address) is loopback. The message names the first reachable address and how to get keys.
 */
export function requireKeysBeyondLoopback(exposed: Record<string, string>, insecure: boolean): void {
  if (insecure || jobKeysFromEnv()) return;
  const reachable = (a: string) => (a.includes('://') ? !isLoopbackAddress(a) : !isLoopbackHost(a));
  const open = Object.entries(exposed).find(([, address]) => reachable(address));
  if (!open) return;
  const [what, address] = open;
  throw new Error(
    `${what} ${address} is reachable from other hosts but no CURVE keys were given: create them with 'ringtune keygen FILE' and set ${KEYS_ENV.file}=FILE for every process of the job, or pass --insecure`,
  );
}

/**
 * Ring endpoints and the choice of transport. A rank bound with transport 'auto' listens on both
 * tcp and ipc and advertises `tcp://H:P;ipc:///path;host=KEY`; a connecting rank uses the ipc path
 * only when every rank's endpoint carries this host's key (all ranks on one machine), tcp otherwise.
 */
import { readFileSync } from 'fs';
import { hostname, tmpdir } from 'os';
import { join } from 'path';

/** Transport for ring links. */
export type RingTransport = 'tcp' | 'ipc' | 'auto';

/** The parts of an advertised endpoint. */
export interface ParsedEndpoint {
  tcp?: string;
  ipc?: string;
  host?: string;
}

let ipcCounter = 0;

/** Identifies this machine (and container): hostname plus kernel boot id. */
export function hostKey(): string {
  let boot = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    /* not Linux: the hostname alone identifies the host */
  }
  return `${hostname()}/${boot}`.replace(/[;=\s]/g, '_');
}

/** A fresh ipc endpoint path for this process. */
export function freshIpcEndpoint(): string {
  return `ipc://${join(tmpdir(), `ringtune-${process.pid}-${ipcCounter++}-${Date.now().toString(36)}.sock`)}`;
}

/** Joins the bound addresses into the string a left neighbour connects to. */
export function formatEndpoint(p: ParsedEndpoint): string {
  const parts: string[] = [];
  if (p.tcp) parts.push(p.tcp);
  if (p.ipc) parts.push(p.ipc);
  if (p.host && p.tcp && p.ipc) parts.push(`host=${p.host}`);
  return parts.join(';');
}

/** Splits an advertised endpoint; throws naming `who` if it is not one this module wrote. */
export function parseEndpoint(s: string, who: string): ParsedEndpoint {
  const p: ParsedEndpoint = {};
  for (const part of s.split(';')) {
    if (part.startsWith('tcp://')) p.tcp = part;
    else if (part.startsWith('ipc://')) p.ipc = part;
    else if (part.startsWith('host=')) p.host = part.slice(5);
    else throw new Error(`ring: endpoint of ${who} is malformed: ${JSON.stringify(s)} (expected tcp://..., ipc://... or both)`);
  }
  if (!p.tcp && !p.ipc) throw new Error(`ring: endpoint of ${who} is empty`);
  return p;
}

/**
 * The address to connect to for rank `target`, given every rank's endpoint. ipc is used when
 * the endpoint offers only ipc, or when all endpoints are on this host; otherwise tcp.
 */
export function pickAddress(endpoints: string[], target: number, localHost: string): string {
  const all = endpoints.map((e, i) => parseEndpoint(e, `rank ${i}`));
  const p = all[target];
  const allLocal = all.every((e) => (e.host === localHost && e.ipc !== undefined) || (e.ipc !== undefined && e.tcp === undefined));
  if (p.ipc && (allLocal || !p.tcp)) return p.ipc;
  if (p.tcp) return p.tcp;
  throw new Error(`ring: rank ${target} offers no usable address in ${JSON.stringify(endpoints[target])}`);
}

/** The ipc socket file of an ipc:// address (to remove at close). */
export function ipcPath(address: string): string {
  return address.slice('ipc://'.length);
}

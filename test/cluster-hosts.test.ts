/**
 * The multi-host harness itself (test/helpers/sim-hosts.ts): simulated hosts have their own
 * hostnames, so ringtune's host identity tells them apart although they share this kernel; they
 * reach each other over real TCP on the test network and nothing else; and everything they ran,
 * and the namespaces themselves, are gone after destroy().
 * Runs under `npm run test:cluster` as root; skips with the reason otherwise.
 */
import { join } from 'path';
import { SimulatedHosts, simHostsUnavailable } from './helpers/sim-hosts';
import { alive } from './helpers/procs';

const skip = simHostsUnavailable();
if (skip) console.warn(`cluster-hosts: skipped: ${skip}`);
const maybe = skip ? describe.skip : describe;
const ENDPOINT = join(__dirname, '..', 'dist', 'worker', 'ring', 'endpoint.js');

/** Runs a Node snippet on a host; resolves with its stdout (rejects with its stderr on failure). */
function nodeOn(hosts: SimulatedHosts, index: number, code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = hosts.spawn(index, process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (err += d));
    p.on('exit', (c) => (c === 0 ? resolve(out.trim()) : reject(new Error(`host ${index}: exit ${c}: ${err}`))));
  });
}

maybe('simulated hosts (network + UTS namespaces on one machine)', () => {
  it('have their own hostnames and host keys, talk TCP to each other on the test network, and leave nothing behind', async () => {
    const hosts = await SimulatedHosts.create(3, 'hoststest');
    const holders = hosts.hosts.map((h) => h.holder);
    let server: ReturnType<SimulatedHosts['spawn']> | null = null;
    try {
      const keys = await Promise.all(
        hosts.hosts.map((h) => nodeOn(hosts, h.index, `console.log(require(${JSON.stringify(ENDPOINT)}).hostKey())`)),
      );
      expect(keys.map((k) => k.split('/')[0])).toEqual(['hoststest-0', 'hoststest-1', 'hoststest-2']);
      expect(new Set(keys).size).toBe(3);
      // Same kernel: the boot id half of the key is shared, the hostname half tells the hosts apart.
      expect(new Set(keys.map((k) => k.split('/')[1])).size).toBe(1);

      server = hosts.spawn(
        1,
        process.execPath,
        ['-e', `require('net').createServer((c) => c.end(require('os').hostname())).listen(7000, '198.18.0.2', () => console.log('up'))`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise((r) => server!.stdout!.once('data', r));
      const read = `const c = require('net').connect(7000, process.argv[1]); let s = ''; c.on('data', (d) => (s += d)); c.on('end', () => console.log(s)); c.on('error', (e) => { console.log('error ' + e.code); });`;
      expect(await nodeOn(hosts, 2, read.replace('process.argv[1]', "'198.18.0.2'"))).toBe('hoststest-1');
      // The server listens on host 1's address: from host 0 it is reachable, on host 0's own loopback it is not.
      expect(await nodeOn(hosts, 0, read.replace('process.argv[1]', "'198.18.0.2'"))).toBe('hoststest-1');
      expect(await nodeOn(hosts, 0, read.replace('process.argv[1]', "'127.0.0.1'"))).toBe('error ECONNREFUSED');
    } finally {
      await hosts.destroy();
    }
    expect(server!.exitCode !== null || server!.signalCode !== null).toBe(true);
    expect(holders.filter(alive)).toEqual([]);
  }, 60_000);
});

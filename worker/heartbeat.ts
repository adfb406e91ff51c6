/**
 * Note [liveness]: a worker's main thread can be busy for seconds inside one synchronous kernel,
 * so heartbeats come from a separate thread with its own socket. It pings the coordinator every
 * HEARTBEAT_MS and expects an answer. If the coordinator stops answering (killed, frozen, host
 * gone) or orders an abort, the thread ends the worker process: it tells the main thread, and if
 * the main thread is stuck it kills the process outright. So no worker outlives its coordinator.
 * A run that finishes is not a death: the coordinator's normal close sends 'stop' to the heartbeat
 * thread as well, which then stops watching for silence and tells the main thread (it may still be
 * on its way to its own 'stop', slowly on a loaded machine, while the coordinator has already exited).
 */
import { Worker } from 'worker_threads';
import { HEARTBEAT_MS, COORDINATOR_SILENT_MS, PROTOCOL_VERSION, encode } from '../shared/protocol';

// Runs in the thread. Plain JS (no imports of project files) so it works from any bundle: the ping
// it sends is encoded by the main thread (shared/protocol's encode), the thread only reads replies.
const THREAD_SOURCE = `
const { workerData, parentPort } = require('worker_threads');
const { writeSync } = require('fs');
const zmq = require(workerData.zmqPath);
const { unpack } = require(workerData.msgpackrPath);
const { address, rank, version, intervalMs, silentMs, parentPid, ping } = workerData;
const sock = new zmq.Dealer({ linger: 0 });
if (workerData.curve) Object.assign(sock, workerData.curve);
sock.connect(address);
let lastAnswer = Date.now();
let ending = false;
let finished = false;
let killer = null;
function end(reason, final = false) {
  if (ending) return;
  ending = true;
  parentPort.postMessage({ abort: reason, final });
  killer = setTimeout(() => {
    writeSync(2, 'ringtune worker rank ' + rank + ': ' + reason + '; main thread unresponsive, killing the process\\n');
    process.kill(process.pid, 'SIGKILL');
  }, 2000);
}
const timer = setInterval(() => {
  if (parentPid && process.ppid !== parentPid) end('the launcher (pid ' + parentPid + ') is gone');
  if (!finished && Date.now() - lastAnswer > silentMs) end('the coordinator at ' + address + ' has not answered for ' + Math.round(silentMs / 1000) + ' s');
  if (!ending && !finished) sock.send(ping).catch(() => {});
}, intervalMs);
// A stop request proves the main thread is responsive: the kill timer goes too, so the thread can end.
parentPort.on('message', (m) => { if (m === 'stop') { ending = true; clearInterval(timer); clearTimeout(killer); sock.close(); parentPort.close(); } });
(async () => {
  try {
    for await (const [frame] of sock) {
      let msg;
      try { msg = unpack(frame); } catch { continue; }
      if (!msg || msg.v !== version) continue;
      lastAnswer = Date.now();
      if (msg.type === 'abort') end('the coordinator aborted the run: ' + String(msg.reason), msg.final === true);
      if (msg.type === 'stop' && !finished) { finished = true; parentPort.postMessage({ finished: String(msg.reason) }); }
    }
  } catch {}
})();
`;

/** Handle on the heartbeat thread. */
export interface Heartbeat {
  stop(): Promise<void>;
}

/**
 * Starts pinging the coordinator as `rank`; calls onAbort (on the main thread) when the run must
 * end (`final`: the coordinator said no restart follows).
 */
export function startHeartbeat(o: {
  address: string;
  rank: number;
  onAbort: (reason: string, final: boolean) => void;
  /** The coordinator closed normally: nothing more will come (the worker's own 'stop' may still be on its way). */
  onFinished?: () => void;
  curve?: Record<string, unknown>;
}): Heartbeat {
  const parentPid = process.env.RINGTUNE_SUPERVISOR_PID ? Number(process.env.RINGTUNE_SUPERVISOR_PID) : 0;
  const thread = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: {
      zmqPath: require.resolve('zeromq'),
      msgpackrPath: require.resolve('msgpackr'),
      address: o.address,
      rank: o.rank,
      version: PROTOCOL_VERSION,
      // The thread shares the process (and its pid) with the main thread.
      ping: encode({ type: 'heartbeat', rank: o.rank, pid: process.pid })[0],
      intervalMs: HEARTBEAT_MS,
      silentMs: COORDINATOR_SILENT_MS,
      parentPid,
      curve: o.curve,
    },
  });
  thread.on('message', (m: { abort?: string; final?: boolean; finished?: string }) => {
    if (m.abort) o.onAbort(m.abort, m.final === true);
    else if (m.finished !== undefined) o.onFinished?.();
  });
  thread.unref();
  return {
    // Let the thread close its socket and end by itself: terminating it mid-close aborts libzmq.
    stop: async () => {
      const exited = new Promise((r) => thread.once('exit', r));
      thread.postMessage('stop');
      const timer = setTimeout(() => void thread.terminate(), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Until the welcome starts the heartbeat thread (which then watches the launcher too), ends this
 * worker when the process that started it is gone: a launcher killed before the coordinator ever
 * answered must not leave its workers waiting forever.
 */
export function watchLauncher(log: (l: string) => void): NodeJS.Timeout | undefined {
  const launcher = Number(process.env.RINGTUNE_SUPERVISOR_PID ?? 0);
  if (!launcher) return undefined;
  return setInterval(() => {
    if (process.ppid === launcher) return;
    log(`ringtune worker: the launcher (pid ${launcher}) is gone before the coordinator answered; exiting`);
    process.exit(1);
  }, HEARTBEAT_MS).unref();
}

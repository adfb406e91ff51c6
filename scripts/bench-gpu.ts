/**
 * `npm run bench:gpu`: training img/s on the GPU (webgpu on Dawn) of the small CNN (64x64x3,
 * batch 64) and mobilenet_v2 (224 px, batch 32), stock tfjs-webgpu against ringtune's kernels
 * and worker step, PyTorch on the same GPU side by side when it imports with CUDA, ratios, and
 * where one step's time goes (tf.profile kernel time against wall time). Each variant runs in
 * its own process (this same file with --variant), so the packed single-file bundle works too.
 * Without a GPU adapter it says so and exits 0.
 *
 *   npm run bench:gpu -- --variants stock,ringtune --nets cnn --steps 10
 */
import { spawnSync } from 'child_process';
import { writeFileSync } from 'fs';
import { Command } from 'commander';
import { auditVariant, runVariant, VARIANTS, type NetAudit, type NetResult } from './bench-gpu-run';
import { checkNumerics, type NumericsResult } from './bench-gpu-numerics';
import { auditTable, GOAL_THREADS } from './gpu-audit';
import { torchPeer, type TorchPeer } from './bench-gpu-torch';

const MARK = 'BENCH_GPU_RESULT ';
type VariantOut = Awaited<ReturnType<typeof runVariant>>;

const int = (flag: string) => (t: string) => {
  const v = Number(t);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${flag} must be a whole number >= 0, got '${t}'`);
  return v;
};

function options() {
  return new Command('bench:gpu')
    .option(
      '--variants <list>',
      `comma-separated, of: ${Object.keys(VARIANTS).join(', ')}`,
      'ringtune,stock,ringtune-kernels,ringtune+toggles',
    )
    .option('--nets <list>', 'cnn, mobilenet_v2', 'cnn,mobilenet_v2')
    .option('--warmup <n>', 'untimed steps first', int('--warmup'), 3)
    .option('--steps <n>', 'timed steps (median reported; mobilenet_v2 runs half as many)', int('--steps'), 10)
    .option('--cnn-size <px>', 'small CNN input size', int('--cnn-size'), 64)
    .option('--cnn-batch <n>', 'small CNN batch', int('--cnn-batch'), 64)
    .option('--mobilenet-size <px>', 'mobilenet_v2 input size', int('--mobilenet-size'), 224)
    .option('--mobilenet-batch <n>', 'mobilenet_v2 batch', int('--mobilenet-batch'), 32)
    .option('--no-torch', 'skip the PyTorch peer')
    .option('--json <file>', 'also write every number as JSON')
    .option('--check', "numerics only: one step's gradients on webgpu (ringtune and stock kernels) against the cpu backend")
    .option(
      '--audit',
      'GPU shape of one training step per net: threads, FLOPs and bytes per kernel; dispatches, read-backs, uploads (stock vs ringtune)',
    )
    .option('--no-stock', 'with --audit: audit ringtune only (stock tfjs-webgpu is slow on a software adapter)')
    .option('--variant <name>', 'internal: run one variant in this process and print its result');
}

type Opts = ReturnType<ReturnType<typeof options>['opts']>;
const sizesOf = (o: Opts) => ({
  cnnSize: o.cnnSize,
  cnnBatch: o.cnnBatch,
  mobilenetSize: o.mobilenetSize,
  mobilenetBatch: o.mobilenetBatch,
});

/** Child mode: one variant (or the numerics check of one kernel set), one JSON line on stdout. */
async function child(o: Opts): Promise<void> {
  if (o.check) {
    console.log(MARK + JSON.stringify(await checkNumerics(o.variant === 'stock')));
    return;
  }
  if (o.audit) {
    console.log(MARK + JSON.stringify(await auditVariant(o.variant, String(o.nets).split(','), sizesOf(o), o.warmup)));
    return;
  }
  const out = await runVariant(o.variant, String(o.nets).split(','), sizesOf(o), o.warmup, o.steps);
  console.log(MARK + JSON.stringify(out));
}

/** --check: gradients on webgpu vs cpu, ringtune's kernels and stock (Note [gradient agreement]); exit 1 when ringtune's are off. */
function check(): number {
  let bad = 0;
  for (const v of ['ringtune', 'stock']) {
    const r = spawnVariant(v, ['--check']) as unknown as NumericsResult[] | { error: string };
    if ('error' in r) {
      console.log(/no GPU adapter/.test(r.error) ? `no GPU adapter: ${r.error}` : `numerics check (${v}) failed: ${r.error}`);
      return /no GPU adapter/.test(r.error) ? 0 : 1;
    }
    for (const n of r) {
      if (!n.agreement.ok && v === 'ringtune') bad++;
      console.log(`numerics ${v.padEnd(8)} ${n.line}`);
    }
  }
  return bad ? 1 : 0;
}

/** --audit: one step per net under stock (unless `withStock` is false) and ringtune, side by side, and ringtune's goals. */
function audit(argv: string[], withStock: boolean): number {
  const runs: { variant: string; backend: string; nets: NetAudit[] }[] = [];
  for (const v of withStock ? ['stock', 'ringtune'] : ['ringtune']) {
    const r = spawnVariant(v, [...argv, '--audit']) as unknown as (typeof runs)[number] | { error: string };
    if ('error' in r) {
      console.log(/no GPU adapter/.test(r.error) ? `no GPU adapter: ${r.error}` : `audit (${v}) failed: ${r.error}`);
      return /no GPU adapter/.test(r.error) ? 0 : 1;
    }
    runs.push(r);
  }
  const ours = runs[runs.length - 1];
  console.log(`one training step on ${ours.backend}`);
  let missed = 0;
  ours.nets.forEach((n, i) => {
    console.log(`\n${n.net}, batch ${n.batch} (${n.buckets} gradient bucket(s)):\n`);
    console.log(auditTable(runs.map((r) => ({ name: r.variant, audit: r.nets[i].audit }))).join('\n'));
    const goals = [
      [`every kernel > 10 MFLOP launches >= ${GOAL_THREADS} threads`, n.audit.narrowHeavy === 0],
      [`read-backs per step = buckets + 1 (${n.buckets + 1})`, n.audit.readBacks === n.buckets + 1],
      ['one upload per step', n.audit.uploads === 1],
    ] as const;
    for (const [goal, met] of goals) {
      if (!met) missed++;
      console.log(`goal: ${goal}: ${met ? 'met' : 'NOT MET'}`);
    }
  });
  return missed ? 1 : 0;
}

/** Runs one variant in a fresh process; its stderr (Dawn's warnings, errors) passes through. */
function spawnVariant(variant: string, argv: string[]): VariantOut | { error: string } {
  const r = spawnSync(process.execPath, [process.argv[1], ...argv, '--variant', variant], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15 * 60_000,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(MARK));
  if (line) return JSON.parse(line.slice(MARK.length));
  const why =
    (r.stderr ?? '')
      .split('\n')
      .filter((l) => /ringtune|Error|error/.test(l))
      .pop() ?? `exit ${r.status ?? r.signal}`;
  return { error: why.replace(/^.*?ringtune( bench:gpu)?: /, '') };
}

const fmt = (v: number, d = 1) => v.toFixed(d).padStart(10);

function printTables(nets: string[], runs: VariantOut[], torch: TorchPeer | null): void {
  for (const net of nets) {
    const rows = runs
      .map((r) => ({ v: r.variant, res: r.results.find((x) => x.net.startsWith(net === 'cnn' ? 'small CNN' : net)) }))
      .filter((r) => r.res) as { v: string; res: NetResult }[];
    if (rows.length === 0) continue;
    const stock = rows.find((r) => r.v === 'stock')?.res.imgS;
    const peer = torch && !('error' in torch) ? torch.results[net] : undefined;
    const peerImgS = peer && 'img_s' in peer ? peer.img_s : undefined;
    console.log(`\n${rows[0].res.net}, batch ${rows[0].res.batch}: training img/s on ${runs[0].backend}`);
    console.log('| run                 |      img/s | step ms (median) |   vs stock | vs PyTorch | tensors flat |');
    console.log('|---------------------|-----------:|-----------------:|-----------:|-----------:|:------------:|');
    for (const { v, res } of rows) {
      const ms = (1000 * res.batch) / res.imgS;
      console.log(
        `| ${v.padEnd(19)} | ${fmt(res.imgS)} | ${fmt(ms, 1).padStart(16)} | ${stock ? fmt(res.imgS / stock, 2) + 'x' : '       n/a'} | ${peerImgS ? fmt((100 * res.imgS) / peerImgS, 1) + '%' : '       n/a'} | ${res.tensorsFlat ? 'yes' : 'LEAK'} |`,
      );
    }
    if (peerImgS)
      console.log(
        `| PyTorch ${(torch as { torch: string }).torch.padEnd(11)} | ${fmt(peerImgS)} | ${fmt((1000 * rows[0].res.batch) / peerImgS, 1).padStart(16)} |            |       100% |              |`,
      );
    else
      console.log(
        `PyTorch peer: ${torch == null ? 'skipped (--no-torch)' : 'error' in torch ? torch.error : peer && 'error' in peer ? peer.error : 'no result'}`,
      );
  }
  console.log("\nwhere one step goes (a tf.profile'd step: its wall time, the GPU time its kernels report, the rest is outside kernels):");
  for (const r of runs) {
    for (const res of r.results) {
      const p = res.profile;
      const k =
        p.kernelMs == null ? 'no timestamps' : `${p.kernelMs.toFixed(1)} ms in kernels, ${(p.wallMs - p.kernelMs).toFixed(1)} ms outside`;
      console.log(
        `- ${r.variant}, ${res.net}: ${p.wallMs.toFixed(1)} ms wall, ${p.kernels} kernels, ${k}; top: ${p.top.map((t) => `${t.name} ${t.ms.toFixed(1)} ms/${t.n}`).join(', ')}`,
      );
    }
  }
}

async function main(): Promise<void> {
  const o = options().parse().opts() as Opts;
  if (o.variant) return child(o);
  if (o.check) {
    process.exitCode = check();
    return;
  }
  const variants = String(o.variants).split(',');
  for (const v of variants)
    if (!VARIANTS[v]) throw new Error(`--variants: unknown variant '${v}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  const nets = String(o.nets).split(',');
  const argv = [
    '--nets',
    nets.join(','),
    '--warmup',
    String(o.warmup),
    '--steps',
    String(o.steps),
    '--cnn-size',
    String(o.cnnSize),
    '--cnn-batch',
    String(o.cnnBatch),
    '--mobilenet-size',
    String(o.mobilenetSize),
    '--mobilenet-batch',
    String(o.mobilenetBatch),
  ];
  if (o.audit) {
    process.exitCode = audit(argv, o.stock);
    return;
  }
  const runs: VariantOut[] = [];
  for (const v of variants) {
    console.error(`bench:gpu: running ${v} ...`);
    const r = spawnVariant(v, argv);
    if ('error' in r) {
      if (/no GPU adapter/.test(r.error)) {
        console.log(`no GPU adapter: ${r.error}`);
        break;
      }
      if (/no adapter's name contains/.test(r.error)) throw new Error(r.error); // bad input: the same for every variant
      console.log(`variant ${v} failed: ${r.error}`);
      continue;
    }
    runs.push(r);
    // A line per net as soon as a variant is done, so a run cut short still tells something.
    for (const res of r.results)
      console.log(
        `${v}: ${res.net} batch ${res.batch}: ${res.imgS.toFixed(1)} img/s (median step ${((1000 * res.batch) / res.imgS).toFixed(1)} ms)`,
      );
  }
  const torch = o.torch ? torchPeer({ nets, ...sizesOf(o), warmup: o.warmup, steps: o.steps }) : null;
  if (torch && 'error' in torch) console.log(`PyTorch peer: ${torch.error}`);
  if (runs.length > 0) printTables(nets, runs, torch);
  else if (torch && !('error' in torch))
    for (const [net, r] of Object.entries(torch.results))
      console.log(`PyTorch ${torch.torch} on ${torch.gpu}, ${net}: ${'img_s' in r ? r.img_s.toFixed(1) + ' img/s' : r.error}`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ runs, torch }, null, 1));
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    console.error(`ringtune bench:gpu: ${(e as Error).message}`);
    process.exit(1);
  },
);

/**
 * The Kubernetes manifests in scripts/k8s/ against the Kubernetes API schema, offline (kubectl's
 * client-side checks need a cluster, and kubeconform is neither on npm nor in Debian):
 * - kubernetes-models: validators generated from the Kubernetes OpenAPI spec (types, required
 *   fields, formats), which accept unknown fields like the API server's non-strict mode;
 * - kubernetes-types + tsc: the same spec as TypeScript types, whose excess-property check rejects
 *   unknown (misspelt) fields, like kubeconform -strict.
 * Both are installed into a cache folder outside the project, from the npm registry, on first run.
 * Then the manifests are checked for what ringtune needs: sizes, names and ports that agree, and
 * topology discovery from the Job's own environment.
 */
import { spawnSync } from 'child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { CLUSTER_TESTS } from './helpers/cluster-daemons';
import { discoverTopology } from '../shared/topology';

const K8S = join(__dirname, '..', 'scripts', 'k8s');
const TOOLS = join(tmpdir(), 'ringtune-k8s-schema-tools');
const PACKAGES = ['kubernetes-models@4.5.1', 'kubernetes-types@1.30.0', 'yaml@2.9.1'];
const TSC = join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');

/** Installs the checkers once; returns why the test cannot run, or null. */
function installTools(): string | null {
  if (!CLUSTER_TESTS) return 'cluster tests run with `npm run test:cluster` (RINGTUNE_CLUSTER_TESTS=1)';
  const stamp = join(TOOLS, `installed-${PACKAGES.join('+').replace(/[@/]/g, '_')}`);
  if (existsSync(stamp)) return null;
  mkdirSync(TOOLS, { recursive: true });
  writeFileSync(join(TOOLS, 'package.json'), '{ "name": "ringtune-k8s-schema-tools", "private": true }\n');
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...PACKAGES], {
    cwd: TOOLS,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) return `npm install ${PACKAGES.join(' ')} failed: ${r.stderr || r.error?.message}`;
  writeFileSync(stamp, '');
  return null;
}

const skip = installTools();
if (skip) console.warn(`cluster-k8s: skipped: ${skip}`);
const maybe = skip ? describe.skip : describe;
const need = (m: string) => require(join(TOOLS, 'node_modules', m));

type Doc = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: any };

/** Every document of every manifest, with the file it came from. */
function manifests(): { file: string; doc: Doc }[] {
  const { parseAllDocuments } = need('yaml');
  return readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d: any) => {
        if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
        return { file, doc: d.toJS() as Doc };
      }),
    );
}

/** kubernetes-models' validator for a document; throws naming the file and the failing path. */
function validateModel(file: string, doc: Doc): void {
  const group = doc.apiVersion.includes('/') ? doc.apiVersion : `v1`;
  const Model = need(`kubernetes-models/${group}`)[doc.kind];
  if (!Model) throw new Error(`${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
  try {
    new Model(doc).validate();
  } catch (e) {
    throw new Error(`${file} (${doc.kind} ${doc.metadata?.name}): ${(e as Error).message}`);
  }
}

/** tsc over the documents typed with kubernetes-types; returns the compiler's complaints ('' when none). */
function strictTypeCheck(docs: { file: string; doc: Doc }[]): string {
  const typeOf = (d: Doc) => {
    const [group, version] = d.apiVersion.includes('/') ? d.apiVersion.split('/') : ['core', d.apiVersion];
    return `import('kubernetes-types/${group}/${version}').${d.kind}`;
  };
  const src = docs
    .map(({ file, doc }, i) => `// ${file}\nexport const doc${i}: ${typeOf(doc)} = ${JSON.stringify(doc, null, 2)};\n`)
    .join('\n');
  const name = `check-${process.pid}-${Date.now()}`;
  writeFileSync(join(TOOLS, `${name}.ts`), src);
  const compilerOptions = { strict: true, noEmit: true, skipLibCheck: true, moduleResolution: 'node', module: 'commonjs', types: [] };
  writeFileSync(join(TOOLS, `${name}.json`), JSON.stringify({ compilerOptions, files: [`${name}.ts`] }));
  const r = spawnSync(process.execPath, [TSC, '-p', join(TOOLS, `${name}.json`)], { cwd: TOOLS, encoding: 'utf8', timeout: 120_000 });
  for (const ext of ['ts', 'json']) rmSync(join(TOOLS, `${name}.${ext}`), { force: true });
  return r.status === 0 ? '' : `${r.stdout}${r.stderr}` || `tsc exited with ${r.status}`;
}

maybe('Kubernetes manifests (scripts/k8s)', () => {
  let docs: { file: string; doc: Doc }[];
  beforeAll(() => (docs = manifests()));
  const find = (kind: string) => docs.find((d) => d.doc.kind === kind)!.doc;

  it('hold one headless Service and one indexed Job', () => {
    expect(docs.map((d) => d.doc.kind).sort()).toEqual(['Job', 'Service']);
    expect(find('Service').spec.clusterIP).toBe('None');
    expect(find('Job').spec.completionMode).toBe('Indexed');
  });

  it('pass the Kubernetes schema (types, required fields) and the strict unknown-field check', () => {
    for (const { file, doc } of docs) validateModel(file, doc);
    expect(strictTypeCheck(docs)).toBe('');
  });

  it('the checkers reject a wrong type, a missing field and a misspelt field', () => {
    const job = find('Job');
    expect(() => validateModel('bad.yaml', { ...job, spec: { ...job.spec, completions: 'four' } })).toThrow(/completions must be integer/);
    const { containers, ...noContainers } = job.spec.template.spec;
    expect(() => validateModel('bad.yaml', { ...job, spec: { ...job.spec, template: { spec: noContainers } } })).toThrow(/containers/);
    const { completionMode, ...rest } = job.spec;
    expect(strictTypeCheck([{ file: 'bad.yaml', doc: { ...job, spec: { ...rest, completionMod: completionMode } } }])).toMatch(
      /completionMod/,
    );
  });

  it('agree with each other and with what ringtune run reads', () => {
    const svc = find('Service');
    const job = find('Job');
    const pod = job.spec.template.spec;
    const container = pod.containers[0];
    const env = Object.fromEntries(container.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
    expect(job.spec.completions).toBe(job.spec.parallelism);
    expect(Number(env.WORLD_SIZE)).toBe(job.spec.completions);
    expect(pod.subdomain).toBe(svc.metadata.name);
    expect(env.RINGTUNE_SERVICE).toBe(svc.metadata.name);
    expect(svc.spec.selector).toEqual({ 'job-name': job.metadata.name });
    expect(svc.spec.ports[0].port).toBe(Number(env.MASTER_PORT));
    expect(container.ports[0].containerPort).toBe(Number(env.MASTER_PORT));
    expect([...container.command, ...container.args].slice(2, 3)).toEqual(['run']);
    expect(pod.restartPolicy).toBe('Never');
    // The job key: a Secret every pod mounts (not optional: no key, no pod), owner-readable, named by RINGTUNE_KEY_FILE.
    const keyVolume = pod.volumes.find((v: any) => v.secret);
    expect(keyVolume.secret).toEqual({ secretName: 'ringtune-key', defaultMode: 0o400 });
    const keyMount = container.volumeMounts.find((m: any) => m.name === keyVolume.name);
    expect(keyMount.readOnly).toBe(true);
    expect(env.RINGTUNE_KEY_FILE).toBe(`${keyMount.mountPath}/job.key`);
    expect(readFileSync(join(K8S, 'job-key.sh'), 'utf8')).toMatch(/create secret generic ringtune-key --from-file=job\.key=/);
    expect(job.spec.backoffLimit).toBe(0);
    // What pod 2 of this Job discovers from the environment Kubernetes gives it.
    const t = discoverTopology({ env: { ...env, JOB_COMPLETION_INDEX: '2', HOSTNAME: `${job.metadata.name}-2` } });
    expect(t).toEqual({
      rank: 2,
      world: job.spec.completions,
      localRank: 0,
      masterAddr: `${job.metadata.name}-0.${svc.metadata.name}`,
      masterPort: Number(env.MASTER_PORT),
      source: 'kubernetes',
    });
  });
});

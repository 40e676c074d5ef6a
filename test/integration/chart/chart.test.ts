// charts/herald against the real control plane: helm lint is clean, the rendered manifests are
// accepted by the apiserver, bad values are refused with the field named, and an installed
// release runs: the operator's pods become Ready, and an operator authenticated as the chart's
// ServiceAccount (so only with the chart's RBAC) reconciles the default pool into a StatefulSet.
// helm uninstall leaves the CRDs.
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../exec';
import { uniqueName } from '../env';
import { installCrds, kube, spawnOperator, testNamespace } from '../operator/helpers';
import type { OperatorProcess, TestNamespace } from '../operator/helpers';
import { waitFor } from '../wait';

const chart = join(__dirname, '..', '..', '..', 'charts', 'herald');
const KUBE_VERSION = ['--kube-version', '1.34.4'];

beforeAll(installCrds);

test('helm lint is clean', async () => {
  const r = await runTool('helm', [
    'lint',
    chart,
    '--strict',
    '--set',
    'mysql.url=mysql://u:p@db:3306/herald',
  ]);
  const out = r.stdout + r.stderr;
  expect(r.code === 0 ? 'passed' : out).toBe('passed');
  expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
  expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
});

test('helm template output is accepted by the apiserver, with and without the optional parts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-chart-'));
  const variants = [
    ['--set', 'mysql.url=mysql://u:p@db:3306/herald'],
    [
      '--set',
      'mysql.existingSecret=my-db',
      '--set',
      'kafka.bootstrapServers={kafka-0:9092}',
      '--set',
      'networkPolicy.enabled=true',
      '--set',
      'operator.watchNamespace=default',
      '--set',
      'podDisruptionBudget.enabled=false',
      '--set',
      'security.metricsTls=true',
    ],
    // A test cluster's opt-out (docs/security.md).
    [
      '--set',
      'mysql.url=mysql://u:p@db:3306/herald',
      '--set',
      'security.tls=false',
      '--set',
      'security.authentication=false',
      '--set',
      'security.authorization=false',
    ],
  ];
  for (const [i, extra] of variants.entries()) {
    const rendered = await runTool('helm', [
      'template',
      'dry',
      chart,
      '-n',
      'default',
      ...KUBE_VERSION,
      ...extra,
    ]);
    expect({ code: rendered.code, stderr: rendered.stderr }).toEqual({ code: 0, stderr: '' });
    const file = join(dir, `rendered-${i}.yaml`);
    writeFileSync(file, rendered.stdout);
    const applied = await runTool('kubectl', ['apply', '--dry-run=server', '-f', file]);
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    expect(applied.stdout).toContain('deployment.apps/dry-herald-operator created (server dry run)');
  }
});

test('the chart renders no secret outside a Secret, and restricted pod security', async () => {
  const r = await runTool('helm', [
    'template',
    'sec',
    chart,
    ...KUBE_VERSION,
    '--set',
    'mysql.url=mysql://u:hunter2@db:3306/h',
  ]);
  const docs = r.stdout.split(/^---$/m);
  const withPassword = docs.filter((d) => d.includes('hunter2'));
  expect(withPassword).toHaveLength(1);
  expect(withPassword[0]).toMatch(/^kind: Secret$/m);
  const deployment = docs.find((d) => /^kind: Deployment$/m.test(d)) ?? '';
  for (const setting of [
    'runAsNonRoot: true',
    'readOnlyRootFilesystem: true',
    'allowPrivilegeEscalation: false',
    'type: RuntimeDefault',
    'drop: ["ALL"]',
  ]) {
    expect(deployment).toContain(setting);
  }
});

test('secure by default: the meta-server and the default pool with TLS, authentication and authorization', async () => {
  const r = await runTool('helm', [
    'template',
    'sec',
    chart,
    ...KUBE_VERSION,
    '--set',
    'mysql.url=mysql://u:p@db:3306/h',
  ]);
  expect(r.code).toBe(0);
  const docs = r.stdout.split(/^---$/m);
  const deployment = docs.find((d) => /^kind: Deployment$/m.test(d)) ?? '';
  for (const arg of [
    '--meta-certificate-dir=',
    '--meta-dns-names=sec-herald-meta,',
    '--authentication',
    '--authorization',
  ])
    expect(deployment).toContain(arg);
  const pool = docs.find((d) => /^kind: BrokerPool$/m.test(d)) ?? '';
  expect(pool).toMatch(
    /security:\n\s+tls:\n\s+enabled: true\n\s+metrics: false\n\s+authentication: true\n\s+authorization: true/,
  );
  // /metrics over HTTPS only when asked; the operator's flag follows the value.
  expect(deployment).not.toContain('--metrics-tls');
  // The console: its port and Service, the certificate naming the Service, its create rights.
  expect(deployment).toContain('--console-listen=0.0.0.0:9700');
  expect(deployment).toMatch(/--meta-dns-names=\S*,sec-herald-console\.default\.svc,/);
  expect(deployment).toMatch(/- name: console\n\s+containerPort: 9700/);
  const service =
    docs.find((d) => /^kind: Service$/m.test(d) && d.includes('name: sec-herald-console')) ?? '';
  expect(service).toMatch(/port: 9700\n\s+targetPort: console/);
  const role =
    docs.find((d) => /^kind: ClusterRole$/m.test(d) && d.includes('name: sec-herald-operator\n')) ?? '';
  expect(role).toMatch(/resources: \["topics", "consumergroups"\]\n\s+verbs: \["create"\]/);
});

test('the console is left out where callers cannot sign in (authentication off) or when disabled', async () => {
  for (const off of [
    ['--set', 'security.authentication=false', '--set', 'security.authorization=false'],
    ['--set', 'console.enabled=false'],
  ]) {
    const r = await runTool('helm', [
      'template',
      'off',
      chart,
      ...KUBE_VERSION,
      '--set',
      'mysql.url=mysql://u:p@db:3306/h',
      '--set',
      'networkPolicy.enabled=true',
      ...off,
    ]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).not.toMatch(
      /herald-console|--console-listen|9700|resources: \["topics", "consumergroups"\]\n\s+verbs: \["create"\]/,
    );
  }
});

test('the chart carries the CRDs, the same files crds/ links to', async () => {
  const r = await runTool('helm', ['show', 'crds', chart]);
  expect(r.code).toBe(0);
  const names = [...r.stdout.matchAll(/^ {2}name: (\S+)$/gm)].map((m) => m[1]).sort();
  const plurals = ['accesspolicies', 'brokerpools', 'consumergroups', 'heraldusers', 'topics'];
  expect(names).toEqual(plurals.map((p) => `${p}.herald.dev`));
  for (const name of plurals) {
    const file = `herald.dev_${name}.yaml`;
    expect(realpathSync(join(chart, '..', '..', 'crds', file))).toBe(join(chart, 'crds', file));
  }
});

test('bad values are refused with the field named', async () => {
  const cases: [string[], RegExp][] = [
    [['--set', 'operator.replicas=0', '--set', 'mysql.url=mysql://u:p@db/h'], /operator\/replicas/],
    [['--set', 'mysql.url=postgres://db'], /mysql\/url/],
    [['--set', 'image.pullPolicy=Sometimes', '--set', 'mysql.url=mysql://u:p@db/h'], /image\/pullPolicy/],
    [[], /the default BrokerPool needs storage/],
    [
      ['--set', 'security.tls=false', '--set', 'mysql.url=mysql://u:p@db/h'],
      /security.authentication needs security.tls/,
    ],
    [
      ['--set', 'security.authentication=false', '--set', 'mysql.url=mysql://u:p@db/h'],
      /security.authorization needs security.authentication/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await runTool('helm', ['template', 'bad', chart, ...KUBE_VERSION, ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  }
});

describe('an installed release', () => {
  let ns: TestNamespace;
  let release: string;
  let operator: OperatorProcess | undefined;

  beforeAll(async () => {
    ns = await testNamespace('chart');
    // The apiserver admits only pods that meet the restricted Pod Security profile here.
    const label = await runTool('kubectl', [
      'label',
      'namespace',
      ns.name,
      'pod-security.kubernetes.io/enforce=restricted',
    ]);
    expect(label.code).toBe(0);
    release = uniqueName('h').slice(0, 20);
  });
  afterAll(async () => {
    await operator?.stop();
    await runTool('helm', ['uninstall', release, '-n', ns.name]);
    await ns.delete();
  });

  test('installs under restricted Pod Security, runs the operator with only its RBAC, and uninstalls leaving the CRDs', async () => {
    const install = await runTool('helm', [
      'install',
      release,
      chart,
      '-n',
      ns.name,
      '--set',
      `mysql.existingSecret=mysql`,
      '--set',
      'defaultPool.replicas=2',
      '--wait',
      '--timeout',
      '120s',
    ]);
    expect({ code: install.code, stderr: install.stderr }).toEqual({ code: 0, stderr: '' });
    // NOTES.txt says how to get a token.
    expect(install.stdout).toContain('create token <serviceaccount> --audience herald');
    expect(install.stdout).toContain('herald-user-<name>');
    const { apps } = kube();
    const operatorName = `${release}-herald-operator`;
    const deployment = await apps.readNamespacedDeployment({ name: operatorName, namespace: ns.name });
    expect(deployment.status?.readyReplicas).toBe(2);

    // kwok runs no containers, so run the operator here, as the chart's ServiceAccount.
    const token = await runTool('kubectl', ['create', 'token', operatorName, '-n', ns.name, '--duration=1h']);
    expect(token.code).toBe(0);
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'herald-sa-')), 'kubeconfig');
    const admin = kube().kc;
    const cluster = admin.getCurrentCluster();
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'c', cluster: { server: cluster?.server, 'certificate-authority': cluster?.caFile } },
        ],
        users: [{ name: 'sa', user: { token: token.stdout.trim() } }],
        contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa', namespace: ns.name } }],
        'current-context': 'sa',
      }),
    );
    // The chart's security settings (the Deployment's args), with this host's address.
    operator = await spawnOperator(ns.name, [
      '--kubeconfig',
      kubeconfig,
      '--lease-name',
      operatorName,
      '--meta-certificate-dir',
      join(mkdtempSync(join(tmpdir(), 'herald-meta-')), 'tls'),
      '--meta-dns-names',
      `${release}-herald-meta.${ns.name}.svc`,
      '--meta-ip-addresses',
      '127.0.0.1',
      '--authentication',
      '--authorization',
    ]);

    const sts = await waitFor(
      "the default pool's StatefulSet with its brokers Ready",
      async () => {
        const list = await apps.listNamespacedStatefulSet({ namespace: ns.name });
        const s = list.items.find((x) =>
          x.metadata?.ownerReferences?.some((o) => o.kind === 'BrokerPool' && o.name === 'default'),
        );
        return s?.status?.readyReplicas === 2 ? s : undefined;
      },
      { timeoutMs: 90_000 },
    );
    expect(sts.spec?.replicas).toBe(2);
    // With only the chart's RBAC the operator issued the pool's certificate and made its
    // brokers' ServiceAccount and binding.
    const { core } = kube();
    const secret = await core.readNamespacedSecret({ namespace: ns.name, name: 'default-broker-tls' });
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(sts.spec?.template.spec?.serviceAccountName).toBe('default-broker');
    const can = await runTool('kubectl', [
      'auth',
      'can-i',
      'create',
      'tokenreviews',
      '--as',
      `system:serviceaccount:${ns.name}:default-broker`,
    ]);
    expect(can.stdout.trim()).toBe('yes');
    const lease = await kube().coordination.readNamespacedLease({ name: operatorName, namespace: ns.name });
    expect(lease.spec?.holderIdentity).toBe(operator.identity);

    const uninstall = await runTool('helm', ['uninstall', release, '-n', ns.name, '--wait']);
    expect(uninstall.code).toBe(0);
    await waitFor('the operator Deployment to go', async () => {
      const list = await apps.listNamespacedDeployment({ namespace: ns.name });
      return list.items.length === 0 ? true : undefined;
    });
    const crds = await runTool('kubectl', [
      'get',
      'crd',
      'brokerpools.herald.dev',
      'topics.herald.dev',
      'consumergroups.herald.dev',
    ]);
    expect(crds.code).toBe(0);
  });
});

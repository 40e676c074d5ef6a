// Clients in other languages, generated from proto/ with their standard tools (grpcio-tools for
// Python, protoc-gen-go and protoc-gen-go-grpc for Go), publish and consume through a real
// broker over a loopback socket, on a MySQL topic and on a Kafka topic (the same API: the
// clients do not know which). Each side reads what the other wrote.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEnv, uniqueName } from '../env';
import { api, brokerOptions, dropTestDatabases, runBroker, testDatabase } from '../broker/helpers';
import type { Running } from '../broker/helpers';
import { createCa, issue } from '../../../operator/ca/ca';
import { applyAccessPolicy, installCrds, kube, testNamespace } from '../operator/helpers';
import type { TestNamespace } from '../operator/helpers';
import { runTool } from '../exec';
import { waitFor } from '../wait';

const root = join(__dirname, '..', '..', '..');
const python = () => join(testEnv().binDir, '..', 'python', 'bin', 'python');
const goExample = join(mkdtempSync(join(tmpdir(), 'herald-go-')), 'herald-example');

interface Run {
  code: number;
  lines: Record<string, unknown>[];
  stderr: string;
}

function run(cmd: string, args: string[], cwd = root): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: process.env }, (err, stdout, stderr) => {
      const lines = stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code: err ? Number(err.code ?? 1) : 0, lines, stderr });
    });
  });
}

const TOPIC = 'polyglot';
const KAFKA_TOPIC = uniqueName('polyglot-kafka');
const STORAGES = [
  ['mysql', TOPIC],
  ['kafka', KAFKA_TOPIC],
];
let running: Running;

beforeAll(async () => {
  const gen = await run('bash', [join(root, 'client', 'generate.sh')]);
  expect(gen.stderr).toContain('generated client/python/herald_pb and client/go/heraldv1');
  expect(gen.code).toBe(0);
  const build = await run(
    'go',
    ['build', '-o', goExample, './cmd/herald-example'],
    join(root, 'client', 'go'),
  );
  // A cold module cache reports its downloads on stderr; only the exit code decides.
  expect(build.code === 0 ? 'built' : build.stderr).toBe('built');
  running = await runBroker(
    brokerOptions(
      testDatabase('polyglot'),
      [
        { name: TOPIC, partitions: 4 },
        { name: KAFKA_TOPIC, partitions: 4, storage: 'kafka' },
      ],
      { kafka: { bootstrapServers: testEnv().kafkaBrokers } },
    ),
  );
}, 300_000);

afterAll(async () => {
  await running?.stop();
  await dropTestDatabases();
});

const py = (args: string[]) =>
  run(python(), [
    join(root, 'client', 'python', 'herald_example.py'),
    ...args,
    '--addr',
    running.broker.address,
  ]);
const go = (args: string[]) => run(goExample, [...args, '-addr', running.broker.address]);

test.each(STORAGES)('Python publishes and Go consumes (%s topic)', async (_storage, topic) => {
  const pub = await py(['publish', '--topic', topic, '--key', 'from-python', '--count', '3', '--body', 'py']);
  expect(pub.code).toBe(0);
  expect(pub.lines).toHaveLength(3);
  const partition = Number(pub.lines[0].partition);
  expect(pub.lines.map((l) => l.partition)).toEqual([partition, partition, partition]);

  const sub = await go([
    'consume',
    '-topic',
    topic,
    '-partition',
    String(partition),
    '-group',
    'go-readers',
    '-count',
    '3',
  ]);
  expect(sub.stderr).toBe('');
  expect(sub.code).toBe(0);
  expect(sub.lines.map((l) => [l.offset, l.key, l.body])).toEqual(
    pub.lines.map((l, i) => [l.offset, 'from-python', `py-${i}`]),
  );
});

test.each(STORAGES)(
  'Go publishes and Python consumes, and the acks are committed (%s topic)',
  async (_storage, topic) => {
    const pub = await go(['publish', '-topic', topic, '-key', 'from-go', '-count', '2', '-body', 'go']);
    expect(pub.code).toBe(0);
    expect(pub.lines).toHaveLength(2);
    const partition = Number(pub.lines[0].partition);

    const group = 'python-readers';
    const sub = await py([
      'consume',
      '--topic',
      topic,
      '--partition',
      String(partition),
      '--group',
      group,
      '--count',
      '2',
    ]);
    expect(sub.code).toBe(0);
    const mine = sub.lines.filter((l) => l.key === 'from-go');
    expect(mine.map((l) => l.body)).toEqual(['go-0', 'go-1']);

    const lag = await api(running.clients).getLag({ group, topic });
    const p = lag.partitions.find((x) => x.partition === partition);
    expect(p?.committedOffset).toBe(Number(pub.lines[1].offset));
  },
);

test('an error reaches a generated client as its gRPC status', async () => {
  const r = await py(['publish', '--topic', 'no-such-topic', '--key', 'k']);
  expect(r.code).toBe(1);
  expect(r.lines[0]).toMatchObject({ error: 'NOT_FOUND' });
  const g = await go(['publish', '-topic', 'no-such-topic', '-key', 'k']);
  expect(g.code).toBe(1);
  expect(g.lines[0]).toMatchObject({ error: 'NotFound' });
});

describe('against a broker with TLS, authentication and authorization', () => {
  let secured: Running;
  let ns: TestNamespace;
  let dir: string;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    await installCrds();
    ns = await testNamespace('polysec');
    dir = mkdtempSync(join(tmpdir(), 'herald-polysec-'));
    const ca = await createCa('polyglot CA', 1);
    const pair = await issue(ca, {
      commonName: 'herald:server:broker:polyglot:pool',
      ipAddresses: ['127.0.0.1'],
      server: true,
      days: 1,
    });
    for (const [name, content] of Object.entries({
      'ca.crt': ca.cert,
      'tls.crt': pair.cert,
      'tls.key': pair.key,
    })) {
      files[name] = join(dir, name);
      writeFileSync(files[name], content, { mode: 0o600 });
    }
    secured = await runBroker(
      brokerOptions(testDatabase('polysec'), [{ name: TOPIC, partitions: 1 }], {
        security: {
          tls: { caFile: files['ca.crt'], certFile: files['tls.crt'], keyFile: files['tls.key'] },
          authentication: true,
          authorization: true,
          kubeconfig: testEnv().kubeconfig,
        },
      }),
    );
    await kube().core.createNamespacedServiceAccount({
      namespace: ns.name,
      body: { metadata: { name: 'poly' } },
    });
    const token = await runTool('kubectl', [
      '-n',
      ns.name,
      'create',
      'token',
      'poly',
      '--audience',
      'herald',
    ]);
    files.token = join(dir, 'token');
    writeFileSync(files.token, token.stdout.trim(), { mode: 0o600 });
    await applyAccessPolicy(
      ns.name,
      'poly',
      '[{kind: ServiceAccount, name: poly}]',
      `[{operations: [publish], topics: [{name: ${TOPIC}}]}]`,
    );
  }, 120_000);

  afterAll(async () => {
    await secured?.stop();
    await ns?.delete();
  });

  const pyAt = (args: string[]) =>
    run(python(), [
      join(root, 'client', 'python', 'herald_example.py'),
      ...args,
      '--addr',
      secured.broker.address,
    ]);
  const goAt = (args: string[]) => run(goExample, [...args, '-addr', secured.broker.address]);

  test('Python and Go publish with a CA and a ServiceAccount token file, and are refused without one', async () => {
    const pub = await waitFor('Python allowed by the policy', async () => {
      const r = await pyAt([
        'publish',
        '--topic',
        TOPIC,
        '--ca',
        files['ca.crt'],
        '--token-file',
        files.token,
      ]);
      return r.code === 0 ? r : undefined;
    });
    expect(pub.lines).toHaveLength(1);
    const g = await goAt(['publish', '-topic', TOPIC, '-ca', files['ca.crt'], '-token-file', files.token]);
    expect(g.lines[0]).toHaveProperty('offset');
    expect(g.code).toBe(0);

    expect((await pyAt(['publish', '--topic', TOPIC, '--ca', files['ca.crt']])).lines[0]).toMatchObject({
      error: 'UNAUTHENTICATED',
    });
    expect((await goAt(['publish', '-topic', TOPIC, '-ca', files['ca.crt']])).lines[0]).toMatchObject({
      error: 'Unauthenticated',
    });
    // A topic outside the rule.
    const other = await goAt([
      'publish',
      '-topic',
      'elsewhere',
      '-ca',
      files['ca.crt'],
      '-token-file',
      files.token,
    ]);
    expect(other.lines[0]).toMatchObject({ error: 'PermissionDenied' });
    // Plain text against a TLS listener fails in the transport.
    expect((await pyAt(['publish', '--topic', TOPIC])).lines[0]).toMatchObject({ error: 'UNAVAILABLE' });
  });
});

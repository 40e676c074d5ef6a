// The REST gateway of a broker with TLS, authentication and authorization on, against the real
// apiserver: HTTPS with the broker's gRPC certificate, ServiceAccount tokens from
// `kubectl create token`, a HeraldUser's client certificate, AccessPolicies watched by the
// broker; 401 and 403 with the gRPC reasons; and the TLS examples of docs/http.md, run by curl.
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../../../broker/broker';
import type { Broker } from '../../../broker/broker';
import { heraldUserSubject } from '../../../common/security/access-rules';
import { createCa, issue } from '../../../operator/ca/ca';
import type { KeyPair } from '../../../operator/ca/ca';
import { brokerOptions, dropTestDatabases, metricValue, testDatabase } from '../broker/helpers';
import { capturingLogger, expectNoCredentials } from '../security/leaks';
import {
  applyAccessPolicy,
  applyHeraldUser,
  installCrds,
  kube,
  serviceAccountToken,
  testNamespace,
} from '../operator/helpers';
import type { TestNamespace } from '../operator/helpers';
import { docShellLines, runDocExample } from '../exec';
import { testEnv } from '../env';
import { waitFor } from '../wait';
import { openApiChecker } from './openapi';
import type { OpenApiChecker } from './openapi';

jest.setTimeout(180_000);

let ns: TestNamespace;
let dir: string;
let ca: KeyPair;
let broker: Broker;
let spec: OpenApiChecker;
/** Every token and key this file makes, and the broker's log, searched at the end. */
const credentials: string[] = [];
const logLines: string[] = [];

const PUBLISH = '/v1/namespaces/default/topics/orders/messages';
const PULL = '/v1/namespaces/default/topics/orders/groups/billing/pull';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown> | undefined;
}

/** An HTTPS request trusting the test CA, with a client certificate when given. */
function call(
  path: string,
  o: { token?: string; cert?: KeyPair; ca?: string; body?: string; method?: string } = {},
): Promise<Reply> {
  const method = o.method ?? 'POST';
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `https://${broker.httpAddress}${path}`,
      {
        method,
        ca: o.ca ?? ca.cert,
        ...(o.cert ? { cert: o.cert.cert, key: o.cert.key } : {}),
        headers: {
          'content-type': 'application/json',
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          const json = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
          spec?.check(method, path, res.statusCode!, String(res.headers['content-type'] ?? ''), json);
          resolve({ status: res.statusCode!, headers: res.headers, json });
        });
      },
    );
    req.on('error', reject);
    if (method === 'GET') req.end();
    else req.end(o.body ?? '{}');
  });
}

async function createToken(sa: string): Promise<string> {
  const token = await serviceAccountToken(ns.name, sa);
  credentials.push(token);
  return token;
}

function policy(name: string, sa: string, rules: string): Promise<void> {
  return applyAccessPolicy(ns.name, name, `[{kind: ServiceAccount, name: ${sa}}]`, rules);
}

beforeAll(async () => {
  await installCrds();
  ns = await testNamespace('httpsec');
  dir = mkdtempSync(join(tmpdir(), 'herald-httpsec-'));
  ca = await createCa('test CA', 1);
  credentials.push(ca.key);
  writeFileSync(join(dir, 'ca.crt'), ca.cert);
  const server = await issue(ca, {
    commonName: 'herald:server:broker:test:pool',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    server: true,
    days: 1,
  });
  writeFileSync(join(dir, 'broker.crt'), server.cert);
  writeFileSync(join(dir, 'broker.key'), server.key);
  credentials.push(server.key);
  broker = await startBroker(
    brokerOptions(testDatabase('httpsec'), [{ name: 'orders', partitions: 1 }], {
      security: {
        tls: {
          caFile: join(dir, 'ca.crt'),
          certFile: join(dir, 'broker.crt'),
          keyFile: join(dir, 'broker.key'),
        },
        authentication: true,
        authorization: true,
        kubeconfig: testEnv().kubeconfig,
      },
    }),
    capturingLogger(logLines),
  );
  for (const name of ['orders-writer', 'nobody'])
    await kube().core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name } } });
  await policy('writer', 'orders-writer', '[{operations: [publish], topics: [{name: orders}]}]');
  spec = openApiChecker((await call('/openapi.json', { method: 'GET' })).json!);
});

afterAll(async () => {
  await broker?.shutdown();
  await ns?.delete();
  await dropTestDatabases();
});

test('HTTPS only, with the gRPC certificate: plaintext and an untrusting client fail', async () => {
  await expect(fetch(`http://${broker.httpAddress}/openapi.json`)).rejects.toThrow();
  const other = await createCa('other', 1);
  await expect(call('/openapi.json', { method: 'GET', ca: other.cert })).rejects.toThrow();
  expect((await call('/openapi.json', { method: 'GET' })).status).toBe(200);
});

test('a rotated certificate is served without a restart', async () => {
  const serial = () =>
    new Promise<string>((resolve, reject) => {
      const [host, port] = broker.httpAddress.split(':');
      const s = tlsConnect({ host, port: Number(port), ca: ca.cert }, () => {
        resolve(s.getPeerCertificate().serialNumber);
        s.end();
      });
      s.on('error', reject);
    });
  const before = await serial();
  const next = await issue(ca, {
    commonName: 'herald:server:broker:test:pool',
    ipAddresses: ['127.0.0.1'],
    server: true,
    days: 1,
  });
  credentials.push(next.key);
  // Like kubelet's Secret volumes: the new files replace the old ones whole.
  for (const [name, text] of [
    ['broker.key', next.key],
    ['broker.crt', next.cert],
  ]) {
    writeFileSync(join(dir, `${name}.tmp`), text);
    renameSync(join(dir, `${name}.tmp`), join(dir, name));
  }
  const after = await waitFor('the new certificate', async () => {
    const s = await serial();
    return s !== before ? s : undefined;
  });
  expect(after).not.toBe(before);
  expect((await call('/openapi.json', { method: 'GET' })).status).toBe(200);
});

test('401 without or with a bad credential, 403 without a rule, 201 with one', async () => {
  const none = await call(PUBLISH, { body: 'x' });
  expect(none).toMatchObject({
    status: 401,
    json: { reason: 'CREDENTIALS_MISSING', grpcCode: 'UNAUTHENTICATED' },
  });
  expect(none.headers['www-authenticate']).toBe('Bearer realm="herald"');
  const forged = await call(PUBLISH, { token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA', body: 'x' });
  expect(forged).toMatchObject({ status: 401, json: { reason: 'CREDENTIALS_INVALID' } });
  const nobody = await call(PUBLISH, { token: await createToken('nobody'), body: 'x' });
  expect(nobody).toMatchObject({
    status: 403,
    json: {
      reason: 'PERMISSION_DENIED',
      metadata: {
        operation: 'publish',
        resource: 'topic/orders',
        subject: `system:serviceaccount:${ns.name}:nobody`,
      },
    },
  });
  const writer = await createToken('orders-writer');
  const ok = await waitFor('the writer may publish', async () => {
    const r = await call(PUBLISH, { token: writer, body: 'hello' });
    return r.status === 201 ? r : undefined;
  });
  expect(ok.json).toMatchObject({ topic: 'orders', results: [{ offset: 1 }] });
  // Publishing is not consuming.
  expect(await call(PULL, { token: writer, body: '{"partition":0,"maxWaitMs":0}' })).toMatchObject({
    status: 403,
    json: { reason: 'PERMISSION_DENIED', metadata: { operation: 'consume' } },
  });
  expect(await metricValue(broker.metricsAddress, 'herald_access_refusals_total')).toBeGreaterThan(0);
});

test("a HeraldUser's client certificate authenticates; one from another CA does not", async () => {
  await applyHeraldUser(ns.name, 'partner', 'tls', '[{operations: [publish], topics: [{name: orders}]}]');
  const partner = await issue(ca, {
    commonName: heraldUserSubject(ns.name, 'partner'),
    server: false,
    days: 1,
  });
  await waitFor('the partner may publish', async () =>
    (await call(PUBLISH, { cert: partner, body: 'by certificate' })).status === 201 ? true : undefined,
  );
  const stranger = await issue(await createCa('stranger', 1), {
    commonName: heraldUserSubject(ns.name, 'partner'),
    server: false,
    days: 1,
  });
  expect(await call(PUBLISH, { cert: stranger, body: 'x' })).toMatchObject({
    status: 401,
    json: { reason: 'CREDENTIALS_MISSING' },
  });
});

test('the TLS examples of docs/http.md do what the text says', async () => {
  const lines = docShellLines('http.md');
  const exportToken = lines.find((l) => l.startsWith('export TOKEN=$(kubectl'))!;
  const examples = lines.filter((l) => l.startsWith('curl ') && l.includes('https://127.0.0.1:7680'));
  expect(exportToken).toBeDefined();
  expect(examples).toHaveLength(4);
  const partner = await issue(ca, {
    commonName: heraldUserSubject(ns.name, 'partner'),
    server: false,
    days: 1,
  });
  writeFileSync(join(dir, 'partner.crt'), partner.cert);
  writeFileSync(join(dir, 'partner.key'), partner.key);
  credentials.push(partner.key);
  const run = (example: string) =>
    runDocExample(exportToken, ns.name, example.replaceAll('127.0.0.1:7680', broker.httpAddress), dir);
  const outs: { code: number; stdout: string }[] = [];
  for (const e of examples) outs.push(await run(e));
  expect(outs.map((o) => o.code)).toEqual([0, 0, 0, 0]);
  const [byToken, byCert, missing, denied] = outs.map((o) => JSON.parse(o.stdout) as Record<string, unknown>);
  expect(byToken).toMatchObject({ topic: 'orders', results: [{}] });
  expect(byCert).toMatchObject({ topic: 'orders', results: [{}] });
  expect(missing).toMatchObject({ status: 401, reason: 'CREDENTIALS_MISSING' });
  expect(denied).toMatchObject({
    status: 403,
    reason: 'PERMISSION_DENIED',
    metadata: { operation: 'consume', subject: `system:serviceaccount:${ns.name}:orders-writer` },
  });
});

test('no token or private key appears in any log or any non-Secret object', async () => {
  await expectNoCredentials({
    namespaces: [ns.name],
    credentials,
    logs: [['broker log', logLines.join('\n')]],
  });
});

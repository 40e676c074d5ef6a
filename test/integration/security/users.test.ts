// The operator issues HeraldUser credentials against the real apiserver: a token in a Secret
// with only its hash in the status (rotated by deleting the Secret), a client certificate from
// the operator's CA kept in a Secret, and AccessPolicy status.
import { X509Certificate } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { AccessPolicyResource, HeraldUserResource } from '../../../common/gen/crds';
import type { AccessPolicy, HeraldUser } from '../../../common/gen/crds';
import { hashToken } from '../../../common/security/tokens';
import {
  applyAccessPolicy,
  applyHeraldUser,
  installCrds,
  kube,
  kubectlApply,
  spawnOperator,
  testNamespace,
} from '../operator/helpers';
import type { OperatorProcess, TestNamespace } from '../operator/helpers';
import { waitFor } from '../wait';
import { expectNoCredentials } from './leaks';

jest.setTimeout(180_000);

let ns: TestNamespace;
let operator: OperatorProcess;

beforeAll(async () => {
  await installCrds();
  ns = await testNamespace('users');
  operator = await spawnOperator(ns.name);
});

afterAll(async () => {
  await operator?.stop();
  await ns?.delete();
});

const getUser = async (name: string) =>
  (await kube().custom.getNamespacedCustomObject({
    ...HeraldUserResource,
    namespace: ns.name,
    name,
  })) as HeraldUser;
const secret = (name: string) => kube().core.readNamespacedSecret({ namespace: ns.name, name });
const text = (s: V1Secret, key: string) => Buffer.from(s.data?.[key] ?? '', 'base64').toString('utf8');

const applyUser = (name: string, type: 'token' | 'tls') =>
  applyHeraldUser(ns.name, name, type, '[{operations: [publish], topics: [{prefix: "orders."}]}]');

test('a token user gets a token in a Secret and only its hash in the status; deleting the Secret rotates it', async () => {
  await applyUser('partner', 'token');
  const first = await waitFor('a token hash', async () => {
    const u = await getUser('partner');
    return u.status?.tokenHash && u.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
      ? u
      : undefined;
  });
  expect(first.status?.secret).toBe('herald-user-partner');
  const s = await secret('herald-user-partner');
  const token = text(s, 'token');
  expect(token).toMatch(/^hrld_/);
  expect(first.status?.tokenHash).toBe(hashToken(token));
  expect(JSON.stringify(first)).not.toContain(token);
  expect(s.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'HeraldUser', name: 'partner' });
  expect(text(s, 'ca.crt')).toContain('BEGIN CERTIFICATE');

  await kube().core.deleteNamespacedSecret({ namespace: ns.name, name: 'herald-user-partner' });
  const rotated = await waitFor('a new token', async () => {
    const u = await getUser('partner');
    return u.status?.tokenHash && u.status.tokenHash !== first.status?.tokenHash ? u : undefined;
  });
  const next = text(await secret('herald-user-partner'), 'token');
  expect(next).not.toBe(token);
  expect(rotated.status?.tokenHash).toBe(hashToken(next));
});

test('a tls user gets a client certificate from the operator CA, with its identity as CN', async () => {
  await applyUser('device', 'tls');
  const user = await waitFor('a certificate', async () => {
    const u = await getUser('device');
    return u.status?.certificateNotAfter ? u : undefined;
  });
  const s = await secret('herald-user-device');
  expect(s.type).toBe('kubernetes.io/tls');
  const cert = new X509Certificate(text(s, 'tls.crt'));
  const ca = new X509Certificate(text(await secret('herald-ca'), 'tls.crt'));
  expect(new X509Certificate(text(s, 'ca.crt')).fingerprint256).toBe(ca.fingerprint256);
  expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
  expect(cert.subject).toBe(`CN=herald:user:${ns.name}:device`);
  expect(new Date(cert.validTo).toISOString().replace(/\.\d+Z$/, 'Z')).toBe(user.status?.certificateNotAfter);
  expect(user.status?.tokenHash).toBeUndefined();
});

test('an AccessPolicy reports its subjects; malformed rules are refused by the schema', async () => {
  await kubectlApply(
    ns.name,
    `apiVersion: herald.dev/v1alpha1
kind: AccessPolicy
metadata: {name: writers}
spec:
  subjects:
    - {kind: ServiceAccount, name: orders-writer}
    - {kind: HeraldUser, name: partner}
  rules:
    - operations: [publish]
      topics: [{name: orders}]
`,
  );
  const policy = await waitFor('policy status', async () => {
    const p = (await kube().custom.getNamespacedCustomObject({
      ...AccessPolicyResource,
      namespace: ns.name,
      name: 'writers',
    })) as AccessPolicy;
    return p.status?.subjects !== undefined ? p : undefined;
  });
  expect(policy.status?.subjects).toBe(2);
  expect(policy.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  const badPolicy = (name: string, rules: string) =>
    applyAccessPolicy(ns.name, name, '[{kind: ServiceAccount, name: x}]', rules);
  await expect(badPolicy('bad', '[{operations: [publish], topics: [{name: a, prefix: b}]}]')).rejects.toThrow(
    /give exactly one of name and prefix/,
  );
  await expect(badPolicy('bad2', '[{operations: [delete]}]')).rejects.toThrow(/Unsupported value: "delete"/);
});

test('no token or private key appears in any log or any non-Secret object', async () => {
  // The HeraldUsers' tokens and keys are in the namespace's Secrets; the operator's log is on disk.
  await expectNoCredentials({ namespaces: [ns.name], credentials: [], logs: [] });
});

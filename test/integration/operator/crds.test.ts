// The apiserver itself refuses invalid Herald objects, with messages that say what is wrong:
// structural schemas, enums and bounds, and CEL rules for grow-only and immutable fields.
import { runTool } from '../exec';
import { startOperatorFixture } from './fixture';
import type { OperatorFixture } from './fixture';
import { kubectlApply, topicManifest } from './helpers';
import type { TestNamespace } from './helpers';

// These tests wait through several lease periods: longer than the integration default (120 s).
jest.setTimeout(180_000);

let fixture: OperatorFixture | undefined;
let ns: TestNamespace;

// The schemas alone: no operator, no pool.
beforeAll(async () => {
  fixture = await startOperatorFixture({ prefix: 'crds', operators: 0, pool: false });
  ns = fixture.ns;
});

afterAll(async () => {
  await fixture?.stop();
});

async function refused(manifest: string): Promise<string> {
  const r = await runTool('kubectl', ['-n', ns.name, 'apply', '-f', '-'], manifest);
  expect(r.code).not.toBe(0);
  return r.stderr;
}

test('partitions can only grow', async () => {
  await kubectlApply(ns.name, topicManifest('grow', 8));
  expect(await refused(topicManifest('grow', 4))).toContain('partitions can only grow');
  await kubectlApply(ns.name, topicManifest('grow', 12));
});

test('storage is immutable', async () => {
  await kubectlApply(ns.name, topicManifest('store', 2, '  storage: mysql'));
  expect(await refused(topicManifest('store', 2, '  storage: kafka'))).toContain('storage is immutable');
});

test('priority and delay are refused on Kafka topics: they need storage mysql', async () => {
  for (const feature of ['priority', 'delay']) {
    expect(await refused(topicManifest(`k-${feature}`, 2, `  storage: kafka\n  ${feature}: true`))).toContain(
      'priority and delay need storage mysql',
    );
  }
  await kubectlApply(ns.name, topicManifest('k-plain', 2, '  storage: kafka\n  priority: false'));
  await kubectlApply(
    ns.name,
    topicManifest('m-both', 2, '  storage: mysql\n  priority: true\n  delay: true'),
  );
});

test('unknown fields are refused', async () => {
  expect(await refused(topicManifest('unknown', 2, '  colour: blue'))).toContain(
    'unknown field "spec.colour"',
  );
});

test('negative and out-of-range numbers are refused', async () => {
  const negative = await refused(topicManifest('neg', -1));
  expect(negative).toContain('spec.partitions');
  expect(negative).toContain('should be greater than or equal to 1');
  expect(await refused(topicManifest('big', 4, '  maxMessageBytes: -5'))).toContain('spec.maxMessageBytes');
});

test('enums are enforced', async () => {
  expect(await refused(topicManifest('enum', 2, '  deletionPolicy: shred'))).toContain(
    'supported values: "retain", "delete"',
  );
});

test("a group's topic is immutable and its retry policy is one kind", async () => {
  const group = (topic: string, extra = '') =>
    `apiVersion: herald.dev/v1alpha1\nkind: ConsumerGroup\nmetadata: {name: g}\nspec:\n  topic: ${topic}\n${extra}`;
  await kubectlApply(ns.name, group('a'));
  expect(await refused(group('b'))).toContain("a group's topic is immutable");
  expect(
    await refused(
      group('a', '  retry: {delaysSeconds: [1, 2], exponential: {initialSeconds: 1, maxSeconds: 10}}'),
    ),
  ).toContain('retry takes delaysSeconds or exponential, not both');
});

test("a push group's endpoint, headers and signing key are checked", async () => {
  const group = (push: string) =>
    `apiVersion: herald.dev/v1alpha1\nkind: ConsumerGroup\nmetadata: {name: hook}\nspec:\n  topic: t\n  push: ${push}\n`;
  const key = 'signingSecretRef: {name: k}';
  expect(await refused(group(`{url: "ftp://x.example/h", ${key}}`))).toContain(
    'push.url must be an http:// or https:// URL',
  );
  expect(await refused(group(`{url: "https://x.example/h", ${key}, headers: {Herald-Key: x}}`))).toContain(
    'must not start with Herald-',
  );
  expect(await refused(group('{url: "https://x.example/h"}'))).toContain('signingSecretRef: Required value');
  await kubectlApply(
    ns.name,
    group(`{url: "https://x.example/h", ${key}, headers: {Authorization: "Bearer x"}}`),
  );
});

test('a topic name longer than 48 characters is refused', async () => {
  expect(await refused(topicManifest('t'.repeat(49), 1))).toContain('at most 48 characters');
});

test('defaults are filled in', async () => {
  await kubectlApply(ns.name, topicManifest('defaults', 3));
  const r = await runTool('kubectl', ['-n', ns.name, 'get', 'topic', 'defaults', '-o', 'jsonpath={.spec}']);
  expect(JSON.parse(r.stdout)).toEqual({
    partitions: 3,
    storage: 'mysql',
    pool: 'default',
    retention: { hours: 168 },
    maxMessageBytes: 1048576,
    priority: false,
    delay: false,
    deletionPolicy: 'retain',
  });
});

test('lease durations must leave room for the safety margin', async () => {
  const pool = `apiVersion: herald.dev/v1alpha1
kind: BrokerPool
metadata: {name: tight}
spec:
  image: herald/broker:dev
  storage: {mysql: {secretRef: {name: mysql}}}
  leases: {brokerSeconds: 10, consumerSeconds: 3, safetyMarginSeconds: 2}
`;
  expect(await refused(pool)).toContain(
    'leases.safetyMarginSeconds must be less than half of leases.consumerSeconds',
  );
  const negative = pool
    .replace('consumerSeconds: 3', 'consumerSeconds: 20')
    .replace('image:', 'replicas: -1\n  image:');
  expect(await refused(negative)).toContain('spec.replicas: Invalid value: -1');
});

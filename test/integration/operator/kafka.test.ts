// Topics with storage: kafka against the real Kafka (KRaft): the operator creates the Kafka
// topic with the Topic's partitions, grows it, and deletes it with deletionPolicy delete.
import { Kafka, logLevel } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { testEnv, uniqueName } from '../env';
import { runTool } from '../exec';
import { waitFor } from '../wait';
import { startOperatorFixture } from './fixture';
import type { OperatorFixture } from './fixture';
import { condition, getTopic, kubectlApply, poolManifest, topicManifest } from './helpers';
import type { TestNamespace } from './helpers';

// These tests wait through several lease periods: longer than the integration default (120 s).
jest.setTimeout(180_000);

let fixture: OperatorFixture | undefined;
let ns: TestNamespace;
let admin: Admin;
const topic = uniqueName('k');

beforeAll(async () => {
  admin = new Kafka({
    clientId: 'herald-test',
    brokers: testEnv().kafkaBrokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const servers = testEnv()
    .kafkaBrokers.map((b) => `"${b}"`)
    .join(', ');
  fixture = await startOperatorFixture({
    prefix: 'kafka',
    operatorArgs: [],
    pool: poolManifest('default').replace(
      'storage: {mysql: {secretRef: {name: mysql}}}',
      `storage: {kafka: {bootstrapServers: [${servers}]}}`,
    ),
  });
  ns = fixture.ns;
});

afterAll(async () => {
  await fixture?.stop();
  await admin?.disconnect();
});

async function kafkaPartitions(name: string): Promise<number | undefined> {
  if (!(await admin.listTopics()).includes(name)) return undefined;
  const meta = await admin.fetchTopicMetadata({ topics: [name] });
  return meta.topics[0]?.partitions.length;
}

test('a kafka Topic becomes a Kafka topic, grows, and is deleted with deletionPolicy delete', async () => {
  await kubectlApply(ns.name, topicManifest(topic, 3, '  storage: kafka\n  deletionPolicy: delete'));
  await waitFor('StorageProvisioned', async () => {
    const t = await getTopic(ns.name, topic);
    return condition(t, 'StorageProvisioned')?.status === 'True' ? t : undefined;
  });
  expect(await kafkaPartitions(topic)).toBe(3);

  await kubectlApply(ns.name, topicManifest(topic, 5, '  storage: kafka\n  deletionPolicy: delete'));
  await waitFor('5 Kafka partitions', async () => ((await kafkaPartitions(topic)) === 5 ? true : undefined));

  const del = await runTool('kubectl', ['-n', ns.name, 'delete', 'topic', topic, '--timeout=60s']);
  expect(del.code).toBe(0);
  await waitFor('the Kafka topic to go', async () =>
    (await kafkaPartitions(topic)) === undefined ? true : undefined,
  );
});

test('a topic whose pool lacks its storage says so', async () => {
  await kubectlApply(ns.name, topicManifest('needs-mysql', 1));
  const t = await waitFor('the condition', async () => {
    const r = await getTopic(ns.name, 'needs-mysql');
    return condition(r, 'StorageProvisioned') ? r : undefined;
  });
  expect(condition(t, 'StorageProvisioned')).toMatchObject({ status: 'False', reason: 'PoolLacksStorage' });
  expect(condition(t, 'Ready')?.status).toBe('False');
});

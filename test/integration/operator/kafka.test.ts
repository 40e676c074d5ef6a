// Topics with storage: kafka against the real Kafka (KRaft): the operator creates the Kafka
// topic with the Topic's partitions, grows it, keeps its retention.ms in step with the Topic,
// and deletes it with deletionPolicy delete; a ConsumerGroup on it starts where startFrom
// says and reports lag and alerts from the group's Kafka offsets.
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { DEFAULTS } from '../../../common/broker-options';
import { silentLogger } from '../../../common/logger';
import { createKafkaStore } from '../../../storage/kafka/kafka-store';
import { testEnv, uniqueName } from '../env';
import { runTool } from '../exec';
import { waitFor } from '../wait';
import { leasesLine, SHORT_LEASES, startOperatorFixture } from './fixture';
import type { OperatorFixture } from './fixture';
import {
  condition,
  fakeBroker,
  getGroup,
  getTopic,
  kubectlApply,
  poolManifest,
  topicManifest,
} from './helpers';
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
    operatorArgs: ['--lag-interval-ms', '1000'],
    pool: poolManifest('default').replace(
      'storage: {mysql: {secretRef: {name: mysql}}}',
      `storage: {kafka: {bootstrapServers: [${servers}]}}`,
    ),
  });
  ns = fixture.ns;
  // Kafka topics keep their retries and dead letters in the pool's MySQL.
  await kubectlApply(
    ns.name,
    poolManifest('both').replace(
      'storage: {mysql: {secretRef: {name: mysql}}}',
      `storage: {mysql: {secretRef: {name: mysql}}, kafka: {bootstrapServers: [${servers}]}}`,
    ),
  );
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
  expect(condition(t, 'PartitionsAssigned')).toMatchObject({ status: 'False', reason: 'PoolLacksStorage' });
  expect(condition(t, 'Ready')).toMatchObject({ status: 'False', reason: 'PoolLacksStorage' });
});

test("a pool that stops serving Kafka: its brokers lose the Kafka topic's partitions, the Topic says why", async () => {
  const servers = testEnv()
    .kafkaBrokers.map((b) => `"${b}"`)
    .join(', ');
  const pool = (kafka: boolean) =>
    poolManifest('shifting', leasesLine(SHORT_LEASES)).replace(
      'storage: {mysql: {secretRef: {name: mysql}}}',
      kafka
        ? `storage: {mysql: {secretRef: {name: mysql}}, kafka: {bootstrapServers: [${servers}]}}`
        : 'storage: {mysql: {secretRef: {name: mysql}}}',
    );
  const name = uniqueName('kshift');
  await kubectlApply(ns.name, pool(true));
  await kubectlApply(
    ns.name,
    topicManifest(name, 2, '  storage: kafka\n  pool: shifting\n  deletionPolicy: delete'),
  );
  await kubectlApply(ns.name, topicManifest(`${name}-m`, 1, '  pool: shifting\n  deletionPolicy: delete'));
  const broker = fakeBroker(fixture!.metaAddresses(), ns.name, 'shifting-0', '', 'shifting');
  const owned = () => broker.owned().sort();
  try {
    await waitFor('both topics served', () => Promise.resolve(owned().length === 3 ? true : undefined));
    await kubectlApply(ns.name, pool(false));
    // The MySQL topic stays; the Kafka topic's partitions are released, not renewed.
    await waitFor('the Kafka partitions to go', () =>
      Promise.resolve(owned().join() === `${name}-m#0` ? true : undefined),
    );
    const t = await waitFor('PoolLacksStorage', async () => {
      const r = await getTopic(ns.name, name);
      return condition(r, 'PartitionsAssigned')?.reason === 'PoolLacksStorage' ? r : undefined;
    });
    expect(condition(t, 'PartitionsAssigned')?.message).toContain('kafka');
    expect(condition(t, 'Ready')).toMatchObject({ status: 'False', reason: 'PoolLacksStorage' });
    // Observed for a few renewals: nothing of the Kafka topic comes back.
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 500));
      expect(owned()).toEqual([`${name}-m#0`]);
    }
    await kubectlApply(ns.name, pool(true));
    await waitFor('served again', () => Promise.resolve(owned().length === 3 ? true : undefined));
  } finally {
    await broker.stop({ release: true });
  }
});

async function retentionMs(name: string): Promise<string | undefined> {
  const res = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] }],
  });
  return res.resources[0]?.configEntries.find((e) => e.configName === 'retention.ms')?.configValue;
}

test("the Kafka topic's retention.ms follows spec.retention.hours", async () => {
  const name = uniqueName('kret');
  await kubectlApply(
    ns.name,
    topicManifest(name, 1, '  storage: kafka\n  pool: both\n  retention: {hours: 2}'),
  );
  await waitFor('retention.ms 2 h', async () => ((await retentionMs(name)) === '7200000' ? true : undefined));
  await kubectlApply(
    ns.name,
    topicManifest(name, 1, '  storage: kafka\n  pool: both\n  retention: {hours: 5}'),
  );
  await waitFor('retention.ms 5 h', async () =>
    (await retentionMs(name)) === '18000000' ? true : undefined,
  );
});

test('a ConsumerGroup on a Kafka topic starts at the end (startFrom latest), reports lag and alerts', async () => {
  const name = uniqueName('kgrp');
  await kubectlApply(ns.name, topicManifest(name, 2, '  storage: kafka\n  pool: both'));
  await waitFor('StorageProvisioned', async () => {
    const t = await getTopic(ns.name, name);
    return condition(t, 'StorageProvisioned')?.status === 'True' ? t : undefined;
  });
  const store = await createKafkaStore({
    ...DEFAULTS.kafka,
    bootstrapServers: testEnv().kafkaBrokers,
    clientId: 'herald-test',
    logger: silentLogger,
  });
  const message = { key: '', refKey: '', tags: [], properties: {}, body: Buffer.from('x'), priority: false };
  const ref = { topic: name, partition: 1 };
  try {
    await store.append([{ ref, firstOffset: 0, messages: [message, message] }], Date.now());
    await kubectlApply(
      ns.name,
      `apiVersion: herald.dev/v1alpha1\nkind: ConsumerGroup\nmetadata: {name: ${name}}\nspec:\n  topic: ${name}\n  startFrom: latest\n  alerts: {maxLagMessages: 2}\n`,
    );
    await waitFor('Registered', async () => {
      const g = await getGroup(ns.name, name);
      return condition(g, 'Registered')?.status === 'True' && g.status?.totalLag === 0 ? g : undefined;
    });
    // The start position is the group's own Kafka offset: Kafka's tools see it.
    const [offsets] = await admin.fetchOffsets({ groupId: name, topics: [name] });
    expect(offsets.partitions.find((p) => p.partition === 1)?.offset).toBe('2');
    await store.append([{ ref, firstOffset: 0, messages: [message, message, message] }], Date.now());
    const group = await waitFor('lag 3 and LagAlert', async () => {
      const g = await getGroup(ns.name, name);
      return g.status?.totalLag === 3 && condition(g, 'LagAlert')?.status === 'True' ? g : undefined;
    });
    expect(group.status?.lag?.find((l) => l.partition === 1)).toMatchObject({ messages: 3 });
    await store.commitOffset(name, ref, 5);
    await waitFor('the alert clears', async () => {
      const g = await getGroup(ns.name, name);
      return g.status?.totalLag === 0 && condition(g, 'LagAlert')?.status === 'False' ? g : undefined;
    });
  } finally {
    await store.close();
  }
});

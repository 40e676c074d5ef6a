// The CRD -> meta-server mapping (operator/meta/from-crds.ts), field by field: every spec field
// the meta-server carries must change what it serves, and a restored view must equal a
// reconciled one (the leader-restore bug dropped priority, storage and the group policy).
import type { ConsumerGroup, Topic } from '../../../operator/gen/crds';
import {
  groupCheckpointOf,
  groupInfoOf,
  groupPolicyOf,
  poolInfoOf,
  restorableTopic,
  topicCheckpointOf,
  topicInfoOf,
} from '../../../operator/meta/from-crds';
import { MetaCore, topicAttributes } from '../../../operator/meta/meta-core';
import { samplePool } from '../fixtures';

const NS = 'ns';

/** A Topic whose every field differs from the CRD default, as the apiserver returns it. */
function sampleTopic(): Topic {
  return {
    apiVersion: 'herald.dev/v1alpha1',
    kind: 'Topic',
    metadata: { name: 'orders', namespace: NS, uid: 'uid-t' },
    spec: {
      partitions: 8,
      storage: 'kafka',
      pool: 'main',
      retention: { hours: 48 },
      maxMessageBytes: 2048,
      priority: true,
      delay: true,
      rateLimit: { messagesPerSecond: 500, burst: 50 },
      owner: 'payments',
      contact: '#payments-oncall',
      deletionPolicy: 'retain',
    },
    status: {
      provisionedPartitions: 6,
      conditions: [
        {
          type: 'StorageProvisioned',
          status: 'True',
          reason: 'Provisioned',
          message: '6 partitions',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
      assignment: [
        { partition: 0, broker: 'b0', address: 'b0:7600', epoch: 3 },
        { partition: 1, broker: 'b1', epoch: 5 },
      ],
    },
  };
}

function sampleGroup(): ConsumerGroup {
  return {
    apiVersion: 'herald.dev/v1alpha1',
    kind: 'ConsumerGroup',
    metadata: { name: 'reds', namespace: NS, uid: 'uid-g' },
    spec: {
      topic: 'orders',
      mode: 'broadcast',
      tagFilter: 'red || urgent',
      ordering: 'ordered',
      startFrom: 'earliest',
      retry: { delaysSeconds: [1, 5], maxRetries: 3 },
      deadLetter: { enabled: false, retentionHours: 24 },
      ackTimeoutSeconds: 7,
      maxInFlight: 50,
      broadcast: { offsetRetentionSeconds: 86400 },
    },
    status: {
      assignment: [{ partition: 2, consumer: 'c1', epoch: 4 }],
      consumers: [{ id: 'c1', zone: 'zone-a' }, { id: 'c2' }],
    },
  };
}

type Change<T> = [field: string, mutate: (o: T) => void, expected: Record<string, unknown>];

/**
 * Each row changes one spec field and names what the meta-server's view must gain. The rows
 * together must touch every key of the mapping's result, so a new TopicInfo field needs a row.
 */
function checkEveryField<T, R extends object>(
  sample: () => T,
  map: (o: T) => R,
  rows: Change<T>[],
  identity: string[],
): void {
  const base = map(sample());
  for (const [field, mutate, expected] of rows) {
    const changed = sample();
    mutate(changed);
    const got = map(changed);
    expect({ field, got }).toEqual({ field, got: { ...base, ...expected } });
  }
  const covered = new Set([...identity, ...rows.flatMap(([, , e]) => Object.keys(e))]);
  expect([...covered].sort()).toEqual(Object.keys(base).sort());
}

describe('Topic -> TopicInfo', () => {
  test('every field the meta-server carries comes from the spec (partitions: what is provisioned)', () => {
    expect(topicInfoOf(sampleTopic())).toEqual({
      namespace: NS,
      name: 'orders',
      pool: 'main',
      partitions: 6,
      maxMessageBytes: 2048,
      storage: 'kafka',
      priority: true,
      delay: true,
      retentionHours: 48,
      rateLimit: { messagesPerSecond: 500, burst: 50 },
      owner: 'payments',
      contact: '#payments-oncall',
    });
    checkEveryField(
      sampleTopic,
      (t) => topicInfoOf(t),
      [
        ['spec.pool', (t) => (t.spec.pool = 'other'), { pool: 'other' }],
        ['status.provisionedPartitions', (t) => (t.status!.provisionedPartitions = 7), { partitions: 7 }],
        ['spec.maxMessageBytes', (t) => (t.spec.maxMessageBytes = 99), { maxMessageBytes: 99 }],
        ['spec.storage', (t) => (t.spec.storage = 'mysql'), { storage: 'mysql' }],
        ['spec.priority', (t) => (t.spec.priority = false), { priority: false }],
        ['spec.delay', (t) => (t.spec.delay = false), { delay: false }],
        ['spec.retention.hours', (t) => (t.spec.retention.hours = 1), { retentionHours: 1 }],
        [
          'spec.rateLimit',
          (t) => (t.spec.rateLimit = { messagesPerSecond: 7 }),
          { rateLimit: { messagesPerSecond: 7 } },
        ],
        ['spec.owner', (t) => (t.spec.owner = 'search'), { owner: 'search' }],
        ['spec.contact', (t) => (t.spec.contact = 'search@example.org'), { contact: 'search@example.org' }],
      ],
      ['namespace', 'name'],
    );
  });

  test('partitions: spec.partitions until storage reports, or what the controller provisioned', () => {
    const t = sampleTopic();
    delete t.status!.provisionedPartitions;
    expect(topicInfoOf(t).partitions).toBe(8);
    expect(topicInfoOf(sampleTopic(), 3).partitions).toBe(3);
  });

  test('restore: only provisioned topics that are not being deleted, with their checkpoint', () => {
    expect(restorableTopic(sampleTopic())).toBe(true);
    const deleting = sampleTopic();
    deleting.metadata!.deletionTimestamp = new Date('2026-01-01T00:00:00Z');
    expect(restorableTopic(deleting)).toBe(false);
    const fresh = sampleTopic();
    delete fresh.status;
    expect(restorableTopic(fresh)).toBe(false);
    expect(topicCheckpointOf(fresh)).toEqual([]);
    expect(topicCheckpointOf(sampleTopic())).toEqual([
      { partition: 0, holder: 'b0', address: 'b0:7600', epoch: 3 },
      { partition: 1, holder: 'b1', address: '', epoch: 5 },
    ]);
  });
});

describe('ConsumerGroup -> GroupInfo', () => {
  test('every field of the group policy comes from the spec, in milliseconds where brokers count them', () => {
    expect(groupInfoOf(sampleGroup())).toEqual({
      namespace: NS,
      name: 'reds',
      topic: 'orders',
      mode: 'broadcast',
      policy: {
        tagFilter: 'red || urgent',
        retryDelaysSeconds: [1, 5],
        exponential: null,
        maxRetries: 3,
        deadLetter: false,
        ordered: true,
        ackTimeoutMs: 7000,
        maxInFlight: 50,
        startFrom: 'earliest',
        push: null,
      },
    });
    const base = groupPolicyOf(sampleGroup().spec);
    checkEveryField(
      sampleGroup,
      (g) => groupPolicyOf(g.spec),
      [
        ['spec.tagFilter', (g) => delete g.spec.tagFilter, { tagFilter: '' }],
        ['spec.retry.delaysSeconds', (g) => (g.spec.retry.delaysSeconds = [9]), { retryDelaysSeconds: [9] }],
        [
          'spec.retry.exponential',
          (g) => {
            delete g.spec.retry.delaysSeconds;
            g.spec.retry.exponential = { initialSeconds: 1, multiplier: 3, maxSeconds: 60 };
          },
          { retryDelaysSeconds: [], exponential: { initialSeconds: 1, multiplier: 3, maxSeconds: 60 } },
        ],
        ['spec.retry.maxRetries', (g) => (g.spec.retry.maxRetries = 0), { maxRetries: 0 }],
        ['spec.deadLetter.enabled', (g) => (g.spec.deadLetter.enabled = true), { deadLetter: true }],
        ['spec.ordering', (g) => (g.spec.ordering = 'concurrent'), { ordered: false }],
        ['spec.ackTimeoutSeconds', (g) => (g.spec.ackTimeoutSeconds = 2), { ackTimeoutMs: 2000 }],
        ['spec.maxInFlight', (g) => (g.spec.maxInFlight = 1), { maxInFlight: 1 }],
        ['spec.startFrom', (g) => (g.spec.startFrom = 'latest'), { startFrom: 'latest' }],
      ],
      ['push'],
    );
    checkEveryField(
      sampleGroup,
      (g) => groupInfoOf(g),
      [
        ['spec.topic', (g) => (g.spec.topic = 'other'), { topic: 'other' }],
        ['spec.mode', (g) => (g.spec.mode = 'clustering'), { mode: 'clustering' }],
        ['spec.maxInFlight', (g) => (g.spec.maxInFlight = 1), { policy: { ...base, maxInFlight: 1 } }],
      ],
      ['namespace', 'name'],
    );
  });

  test('spec.push with its signing key; without the key the group is not pushed', () => {
    const key = Buffer.from('sixteen-bytes-key!');
    const pushed = (): ConsumerGroup => {
      const g = sampleGroup();
      g.spec.push = {
        url: 'https://hook.example/h',
        timeoutMs: 5000,
        maxInFlight: 20,
        rate: 300,
        headers: { Authorization: 'Bearer x' },
        batch: { maxMessages: 10, maxDelayMs: 50, maxBytes: 65536 },
        signingSecretRef: { name: 'hook-signing', key: 'secret' },
        retryClientErrors: true,
      };
      return g;
    };
    expect(groupPolicyOf(pushed().spec).push).toBeNull();
    expect(groupPolicyOf(pushed().spec, { signingKey: key }).push).toEqual({
      url: 'https://hook.example/h',
      timeoutMs: 5000,
      maxInFlight: 20,
      rate: 300,
      headers: { Authorization: 'Bearer x' },
      batchMaxMessages: 10,
      batchMaxDelayMs: 50,
      batchMaxBytes: 65536,
      signingKeyId: 'hook-signing',
      signingKey: key,
      retryClientErrors: true,
      caPem: '',
    });
    expect(groupPolicyOf(pushed().spec, { signingKey: key, caPem: 'PEM' }).push?.caPem).toBe('PEM');
    const withKid = pushed();
    withKid.spec.push!.signingSecretRef.keyId = 'k2';
    expect(groupPolicyOf(withKid.spec, { signingKey: key }).push?.signingKeyId).toBe('k2');
  });

  test('the checkpoint: assignment and members from status', () => {
    expect(groupCheckpointOf(sampleGroup())).toEqual({
      entries: [{ partition: 2, holder: 'c1', address: '', epoch: 4 }],
      consumers: [
        { id: 'c1', zone: 'zone-a' },
        { id: 'c2', zone: '' },
      ],
    });
  });
});

describe('BrokerPool -> lease durations and storage', () => {
  test('each of spec.leases reaches the pool durations; spec.storage the kinds it serves', () => {
    const pool = samplePool(NS, {
      leases: { brokerSeconds: 6, consumerSeconds: 9, safetyMarginSeconds: 1 },
    });
    expect(poolInfoOf(pool)).toEqual({
      broker: { durationMs: 6000, safetyMarginMs: 1000 },
      consumer: { durationMs: 9000, safetyMarginMs: 1000 },
      storages: ['mysql'],
    });
    const both = samplePool(NS, {
      storage: { ...pool.spec.storage, kafka: { bootstrapServers: ['k:9092'] } },
    });
    expect(poolInfoOf(both).storages).toEqual(['mysql', 'kafka']);
    expect(
      poolInfoOf(samplePool(NS, { storage: { kafka: { bootstrapServers: ['k:9092'] } } })).storages,
    ).toEqual(['kafka']);
  });
});

describe('a restored meta-server serves what a reconciled one does', () => {
  const now = 1_000_000;
  function reconciled(): MetaCore {
    const core = new MetaCore();
    core.setTopic(topicInfoOf(sampleTopic()));
    core.setGroup(groupInfoOf(sampleGroup()));
    return core;
  }
  function restored(): MetaCore {
    const core = new MetaCore();
    const t = sampleTopic();
    const g = sampleGroup();
    core.restoreTopic(topicInfoOf(t), topicCheckpointOf(t), now);
    const { entries, consumers } = groupCheckpointOf(g);
    core.restoreGroup(groupInfoOf(g), entries, consumers, now);
    return core;
  }

  test('GetRoutes and ListTopics give the same attributes, from the same TopicInfo', () => {
    const expected = topicAttributes(topicInfoOf(sampleTopic()));
    expect(expected).toEqual({
      storage: 'kafka',
      priority: true,
      delay: true,
      retentionHours: 48,
      maxMessageBytes: 2048,
    });
    for (const core of [reconciled(), restored()]) {
      expect(core.getRoutes(NS, 'orders', now)).toMatchObject({ topic: 'orders', ...expected });
      expect(core.listTopics(NS, now)).toEqual([expect.objectContaining({ name: 'orders', ...expected })]);
    }
  });

  test('GetConsumerLeases carries the group policy after a restore', () => {
    const policy = groupPolicyOf(sampleGroup().spec);
    expect(reconciled().consumerLeasesOf(NS, 'reds', now)).toMatchObject({ mode: 'broadcast', policy });
    expect(restored().consumerLeasesOf(NS, 'reds', now)).toMatchObject({ mode: 'broadcast', policy });
  });
});

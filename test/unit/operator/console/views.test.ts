import { AccessRules } from '../../../../common/security/access-rules';
import type { BrokerPool, ConsumerGroup, Topic } from '../../../../operator/gen/crds';
import {
  brokersOf,
  mayAdmin,
  mayView,
  notReady,
  parseTarget,
  previewReset,
} from '../../../../operator/console/views';
import type { PartitionLag } from '../../../../proto/gen/herald/v1/PartitionLag';

const rules = new AccessRules([
  {
    subjects: ['alice'],
    rules: [
      { operations: ['consume'], topics: [{ name: 'orders' }], groups: [{ name: 'billing' }] },
      { operations: ['admin'], topics: [{ prefix: 'team-' }] },
    ],
  },
]);
const alice = { subject: 'alice', rules };

describe('who sees and changes what', () => {
  test('a topic or group is visible when a rule covers it for any operation', () => {
    expect(mayView(alice, { kind: 'topic', name: 'orders' })).toBe(true);
    expect(mayView(alice, { kind: 'group', name: 'billing' })).toBe(true);
    expect(mayView(alice, { kind: 'topic', name: 'team-a' })).toBe(true);
    expect(mayView(alice, { kind: 'topic', name: 'clicks' })).toBe(false);
    expect(mayView(alice, { kind: 'group', name: 'audit' })).toBe(false);
    expect(mayView({ subject: 'bob', rules }, { kind: 'topic', name: 'orders' })).toBe(false);
  });

  test('writes need one admin rule over every resource; without enforced rules all is allowed', () => {
    expect(mayAdmin(alice, [{ kind: 'topic', name: 'team-a' }])).toBe(true);
    expect(mayAdmin(alice, [{ kind: 'topic', name: 'orders' }])).toBe(false);
    expect(
      mayAdmin(alice, [
        { kind: 'group', name: 'billing' },
        { kind: 'topic', name: 'team-a' },
      ]),
    ).toBe(false);
    expect(mayAdmin({ subject: 'anyone', rules: undefined }, [{ kind: 'topic', name: 'x' }])).toBe(true);
    expect(mayView({ subject: 'anyone', rules: undefined }, { kind: 'topic', name: 'x' })).toBe(true);
  });
});

const condition = (type: string, status: 'True' | 'False' | 'Unknown', reason = 'R') => ({
  type,
  status,
  reason,
  message: `${type} is ${status}`,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});

test('conditions that need attention: Ready not True, a firing alert, another condition False', () => {
  const group = {
    metadata: { name: 'billing' },
    spec: { topic: 'orders' },
    status: {
      conditions: [
        condition('Ready', 'True'),
        condition('LagAlert', 'True', 'LagAboveLimit'),
        condition('TagFilterValid', 'True'),
        condition('Registered', 'False', 'NoTopic'),
      ],
    },
  } as ConsumerGroup;
  expect(notReady('ConsumerGroup', group).map((c) => `${c.type}=${c.status}:${c.reason}`)).toEqual([
    'LagAlert=True:LagAboveLimit',
    'Registered=False:NoTopic',
  ]);
  const quiet = {
    ...group,
    status: { conditions: [condition('Ready', 'True'), condition('LagAlert', 'False')] },
  };
  expect(notReady('ConsumerGroup', quiet)).toEqual([]);
  // No status yet: the operator has not reported.
  expect(notReady('BrokerPool', { metadata: { name: 'p' }, spec: {} } as unknown as BrokerPool)).toEqual([
    expect.objectContaining({ type: 'Ready', status: 'Unknown', reason: 'NoStatus' }),
  ]);
});

test('brokers and their partitions from the topics’ assignments', () => {
  const topic = (name: string, owners: [string, string][]) =>
    ({
      metadata: { name },
      spec: { partitions: owners.length, pool: 'default' },
      status: {
        assignment: owners.map(([broker, address], partition) => ({ partition, broker, address, epoch: 1 })),
      },
    }) as Topic;
  expect(
    brokersOf([
      topic('a', [
        ['b-1', '10.0.0.2:7600'],
        ['b-0', '10.0.0.1:7600'],
      ]),
      topic('b', [['b-1', '10.0.0.2:7600']]),
      { metadata: { name: 'c' }, spec: { partitions: 1 } } as Topic,
    ]),
  ).toEqual([
    { name: 'b-0', pool: 'default', address: '10.0.0.1:7600', partitions: 1 },
    { name: 'b-1', pool: 'default', address: '10.0.0.2:7600', partitions: 2 },
  ]);
});

describe('offset resets', () => {
  const lag = (partition: number, endOffset: number, committedOffset: number): PartitionLag => ({
    partition,
    endOffset,
    committedOffset,
    lag: endOffset - committedOffset,
    inFlight: 0,
    consumer: '',
    pendingRetries: 0,
    deadLetters: 0,
  });
  const now = [lag(0, 100, 90), lag(1, 50, 50)];

  test('the preview from the current lag', () => {
    expect(previewReset(now, { latest: true }, [])).toEqual([
      { partition: 0, consumer: '', lag: 10, newLag: 0 },
      { partition: 1, consumer: '', lag: 0, newLag: 0 },
    ]);
    expect(previewReset(now, { earliest: true }, [1])).toEqual([
      { partition: 1, consumer: '', lag: 0, newLag: 50, atMost: true },
    ]);
    expect(previewReset(now, { offset: 60 }, []).map((p) => p.newLag)).toEqual([40, 0]);
    // Only the broker knows which offset a time falls on.
    expect(previewReset(now, { timestampMs: 5 }, [0])).toEqual([{ partition: 0, consumer: '', lag: 10 }]);
  });

  test('targets are checked, with what is wrong named', () => {
    expect(parseTarget({ earliest: true })).toEqual({ earliest: true });
    expect(parseTarget({ latest: true })).toEqual({ latest: true });
    expect(parseTarget({ offset: 7 })).toEqual({ offset: 7 });
    expect(parseTarget({ timestampMs: 1700000000000 })).toEqual({ timestampMs: 1700000000000 });
    expect(parseTarget(undefined)).toBe('target must be an object');
    expect(parseTarget({ offset: -1 })).toBe('target.offset must be a non-negative integer');
    expect(parseTarget({ timestampMs: 'soon' })).toBe('target.timestampMs must be a non-negative integer');
    expect(parseTarget({ earliest: true, latest: true })).toMatch(/exactly one of/);
    expect(parseTarget({ earliest: false })).toMatch(/exactly one of/);
  });
});

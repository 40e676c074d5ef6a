import type { V1ConfigMap, V1StatefulSet } from '@kubernetes/client-node';
import {
  DEFAULTS,
  OptionsError,
  POD_ENVIRONMENT,
  resolveOptions,
  withEnvironment,
} from '../../../common/broker-options';
import type { BrokerOptionsInput } from '../../../common/broker-options';
import { brokerPoolObjects, CONFIG_FILE } from '../../../operator/controllers/broker-pool-objects';
import { samplePool } from '../fixtures';

const base: BrokerOptionsInput = {
  mysql: { url: 'mysql://u:p@127.0.0.1:3306/herald' },
  topics: [{ name: 'orders', partitions: 4 }],
};

function fieldOf(input: BrokerOptionsInput): string {
  try {
    resolveOptions(input);
  } catch (err) {
    if (err instanceof OptionsError) return err.field;
    throw err;
  }
  throw new Error('expected an OptionsError');
}

test('defaults fill what is not given', () => {
  const o = resolveOptions(base);
  expect(o.publish).toEqual(DEFAULTS.publish);
  expect(o.topics).toEqual([
    {
      name: 'orders',
      storage: 'mysql',
      partitions: 4,
      maxMessageBytes: 1024 * 1024,
      priority: false,
      delay: false,
      retentionHours: 168,
    },
  ]);
  expect(o.delay).toEqual({
    maxHorizonMs: 366 * 86_400_000,
    tickMs: 100,
    windowMs: 60_000,
    maxLoaded: 100_000,
  });
  expect(o.retention).toEqual({ segmentMessages: 1_000_000, intervalMs: 60_000 });
  expect(o.advertisedAddress).toBe(o.listen);
  expect(o.metricsListen).toBe('127.0.0.1:9600');
  expect(o.httpListen).toBe('127.0.0.1:7680');
});

test('tracing is on by default, with a bounded buffer and 72 hours of retention', () => {
  const o = resolveOptions(base);
  expect(o.trace).toEqual(DEFAULTS.trace);
  expect(o.trace).toMatchObject({ enabled: true, retentionHours: 72 });
  expect(o.commands).toEqual({ pollIntervalMs: 1000, retentionMs: 3_600_000 });
  expect(resolveOptions({ ...base, trace: { enabled: false } }).trace).toEqual({
    ...DEFAULTS.trace,
    enabled: false,
  });
});

test('given values override defaults field by field', () => {
  const o = resolveOptions({ ...base, publish: { lingerMs: 5 } });
  expect(o.publish).toEqual({ ...DEFAULTS.publish, lingerMs: 5 });
});

test('storage: memory needs no MySQL and is the default storage of the topics', () => {
  const o = resolveOptions({ storage: 'memory', topics: [{ name: 'a', partitions: 1 }] });
  expect(o.storage).toBe('memory');
  expect(o.topics[0].storage).toBe('memory');
  expect(
    resolveOptions({ ...base, topics: [{ name: 'k', partitions: 1, storage: 'kafka' }] }).topics[0].storage,
  ).toBe('kafka');
});

test.each<[string, BrokerOptionsInput]>([
  ['publish.maxBatchRows', { ...base, publish: { maxBatchRows: 0 } }],
  ['publish.lingerMs', { ...base, publish: { lingerMs: -1 } }],
  ['publish.slowCommitMs', { ...base, publish: { slowCommitMs: -1 } }],
  ['delivery.maxInFlight', { ...base, delivery: { maxInFlight: 1.5 } }],
  ['mysql.url', { ...base, mysql: { url: 'postgres://x/y' } }],
  ['mysql.url', { ...base, mysql: undefined }],
  ['storage', { ...base, storage: 'tape' as 'memory' }],
  ['topics[0].storage', { ...base, topics: [{ name: 'a', partitions: 1, storage: 'tape' as 'kafka' }] }],
  ['listen', { ...base, listen: 'nohost' }],
  ['topics[0].name', { ...base, topics: [{ name: 'Bad_Name', partitions: 1 }] }],
  [
    'topics[1].name',
    {
      ...base,
      topics: [
        { name: 'a', partitions: 1 },
        { name: 'a', partitions: 2 },
      ],
    },
  ],
  ['topics[0].partitions', { ...base, topics: [{ name: 'a', partitions: 0 }] }],
  ['trace.enabled', { ...base, trace: { enabled: 'yes' as unknown as boolean } }],
  ['trace.flushIntervalMs', { ...base, trace: { flushIntervalMs: 0 } }],
  ['trace.maxBufferedEvents', { ...base, trace: { maxBatchEvents: 500, maxBufferedEvents: 100 } }],
  ['publish.maxPendingBytes', { ...base, publish: { maxRequestBytes: 4096, maxPendingBytes: 4095 } }],
  ['publish.maxPendingBytes', { ...base, publish: { maxPendingBytes: 0 } }],
  ['trace.retentionHours', { ...base, trace: { retentionHours: 0 } }],
  ['commands.pollIntervalMs', { ...base, commands: { pollIntervalMs: -5 } }],
  ['topics[0].maxMessageBytes', { ...base, topics: [{ name: 'a', partitions: 1, maxMessageBytes: 0 }] }],
  ['topics[0].retentionHours', { ...base, topics: [{ name: 'a', partitions: 1, retentionHours: 0 }] }],
  ['topics[0].retentionHours', { ...base, topics: [{ name: 'a', partitions: 1, retentionHours: 87_601 }] }],
  ['delay.tickMs', { ...base, delay: { tickMs: 0 } }],
  ['delay.windowMs', { ...base, delay: { tickMs: 100, windowMs: 50 } }],
  ['delay.maxHorizonMs', { ...base, delay: { maxHorizonMs: -1 } }],
  ['retention.segmentMessages', { ...base, retention: { segmentMessages: 0 } }],
  ['retention.intervalMs', { ...base, retention: { intervalMs: 0.5 } }],
])('an invalid %s is named in the error', (field, input) => {
  expect(fieldOf(input)).toBe(field);
});

test('retention may be a fraction of an hour (tests use seconds)', () => {
  const o = resolveOptions({ ...base, topics: [{ name: 'a', partitions: 1, retentionHours: 1 / 3600 }] });
  expect(o.topics[0].retentionHours).toBeCloseTo(1 / 3600);
});

test('every message has one wording: the field, what it must be, what it got', () => {
  const message = (input: BrokerOptionsInput): string => {
    try {
      resolveOptions(input);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected an OptionsError');
  };
  expect(
    [
      { ...base, publish: { maxBatchRows: 0 } },
      { ...base, trace: { enabled: 'yes' as unknown as boolean } },
      { ...base, topics: [{ name: 'a', partitions: 1, priority: 1 as unknown as boolean }] },
      { ...base, topics: [{ name: 'a', partitions: 1, delay: 'no' as unknown as boolean }] },
      { ...base, topics: [{ name: 'a', partitions: 1, retentionHours: 0 }] },
      { ...base, delay: { tickMs: 100, windowMs: 50 } },
      { ...base, mysql: { url: 'postgres://x/y' } },
      { ...base, groups: { g: { deadLetter: { enabled: 'true' as unknown as boolean } } } },
    ].map(message),
  ).toEqual([
    'publish.maxBatchRows must be an integer >= 1, got 0',
    'trace.enabled must be true or false, got "yes"',
    'topics[0].priority must be true or false, got 1',
    'topics[0].delay must be true or false, got "no"',
    'topics[0].retentionHours must be a number in (0, 87600], got 0',
    'delay.windowMs must be an integer >= 100, got 50',
    'mysql.url must be mysql://user:password@host:port/database, got "postgres://x/y"',
    'groups.g.deadLetter.enabled must be true or false, got "true"',
  ]);
});

describe('lease mode (meta)', () => {
  const meta = {
    address: 'meta-0:7700, meta-1:7700',
    namespace: 'herald',
    pool: 'default',
    brokerId: 'default-broker-0',
  };

  test('standalone without a meta section', () => {
    expect(resolveOptions(base).meta).toBeUndefined();
  });

  test('the ConfigMap shape resolves, with defaults and several addresses', () => {
    const o = resolveOptions({ ...base, meta: { ...meta, leases: { safetyMarginSeconds: 1.5 } } });
    expect(o.meta).toEqual({
      addresses: ['meta-0:7700', 'meta-1:7700'],
      namespace: 'herald',
      pool: 'default',
      brokerId: 'default-broker-0',
      zone: '',
      weight: 1,
      safetyMarginMs: 1500,
      routeTtlMs: DEFAULTS.meta.routeTtlMs,
      consumerLeaseCacheMs: DEFAULTS.meta.consumerLeaseCacheMs,
      plaintext: false,
    });
  });

  test.each([
    [{ ...meta, address: '' }, 'meta.address'],
    [{ ...meta, address: 'no-port' }, 'meta.address'],
    [{ ...meta, namespace: '' }, 'meta.namespace'],
    [{ ...meta, brokerId: undefined }, 'meta.brokerId'],
    [{ ...meta, weight: 0 }, 'meta.weight'],
    [{ ...meta, leases: { safetyMarginSeconds: -1 } }, 'meta.leases.safetyMarginSeconds'],
    [{ ...meta, routeTtlMs: 0 }, 'meta.routeTtlMs'],
  ])('refuses %j naming %s', (m, field) => {
    expect(fieldOf({ ...base, meta: m })).toBe(field);
  });
});

describe('the pod: the ConfigMap the operator writes plus the environment it sets', () => {
  const pool = samplePool('shop');
  const objects = brokerPoolObjects(pool, {
    metaAddress: 'herald-meta.herald:7700',
    totalPartitions: 0,
    metaPlaintext: false,
  });
  const configMap = objects.find((o) => o.kind === 'ConfigMap') as V1ConfigMap;
  const file = JSON.parse(configMap.data?.[CONFIG_FILE] ?? '{}') as BrokerOptionsInput;
  const statefulSet = objects.find((o) => o.kind === 'StatefulSet') as V1StatefulSet;
  const envNames = (statefulSet.spec?.template.spec?.containers[0].env ?? []).map((e) => e.name);

  test('the StatefulSet sets every variable the broker needs', () => {
    for (const name of ['HERALD_POD_NAME', 'HERALD_ADVERTISED_ADDRESS', 'HERALD_MYSQL_URL'])
      expect(envNames).toContain(name);
  });

  test('resolves to lease mode with the pod as the broker', () => {
    const o = resolveOptions(
      withEnvironment(file, {
        HERALD_POD_NAME: 'main-broker-1',
        HERALD_ADVERTISED_ADDRESS: 'main-broker-1.main-broker-headless.shop.svc:7600',
        HERALD_MYSQL_URL: 'mysql://herald:secret@mysql.shop:3306/herald',
      }),
    );
    expect(o.listen).toBe('0.0.0.0:7600');
    expect(o.advertisedAddress).toBe('main-broker-1.main-broker-headless.shop.svc:7600');
    expect(o.mysql.url).toBe('mysql://herald:secret@mysql.shop:3306/herald');
    expect(o.mysql.poolSize).toBe(16);
    expect(o.topics).toEqual([]);
    expect(o.meta).toMatchObject({
      addresses: ['herald-meta.herald:7700'],
      namespace: 'shop',
      pool: 'main',
      brokerId: 'main-broker-1',
      safetyMarginMs: 2000,
    });
  });

  test('POD_ENVIRONMENT names every variable withEnvironment reads (test brokers get none inherited)', () => {
    const read = new Set<string>();
    const env = new Proxy<Record<string, string | undefined>>(
      {},
      {
        get: (_, name) => {
          read.add(String(name));
          return undefined;
        },
      },
    );
    withEnvironment(file, env);
    expect([...read].sort()).toEqual([...POD_ENVIRONMENT].sort());
  });

  test('without the pod name the broker refuses to start, naming the field', () => {
    expect(fieldOf(withEnvironment(file, { HERALD_MYSQL_URL: 'mysql://u:p@h:1/d' }))).toBe('meta.brokerId');
  });
});

describe('consumer group policies (standalone)', () => {
  test('declared groups get the CRD defaults; undeclared ones the broker-wide delivery settings', () => {
    const o = resolveOptions({
      ...base,
      delivery: { defaultAckTimeoutMs: 5000 },
      groups: { billing: { tagFilter: 'a || b', ordering: 'ordered', retry: { delaysMs: [0, 10] } } },
    });
    expect(o.groups.billing).toMatchObject({
      tagFilter: 'a || b',
      ordered: true,
      retry: { delays: { kind: 'delays', delaysMs: [0, 10] }, maxRetries: 16, deadLetter: true },
      ackTimeoutMs: 30_000,
      maxInFlight: 1000,
    });
    expect(o.defaultGroup).toMatchObject({
      tagFilter: '',
      ordered: false,
      retry: { delays: { kind: 'delays', delaysMs: [3000, 6000, 9000] }, maxRetries: 16 },
      ackTimeoutMs: 5000,
    });
  });

  test('a bad policy is refused with the field named', () => {
    const bad = (groups: BrokerOptionsInput['groups']) => fieldOf({ ...base, groups });
    expect(bad({ g: { tagFilter: 'a ||' } })).toBe('groups.g.tagFilter');
    expect(bad({ g: { retry: { delaysMs: [] } } })).toBe('groups.g.retry.delaysMs');
    expect(bad({ g: { retry: { delaysMs: [1], exponential: { initialMs: 1, maxMs: 2 } } } })).toBe(
      'groups.g.retry',
    );
    expect(bad({ g: { retry: { exponential: { initialMs: 10, maxMs: 5 } } } })).toBe(
      'groups.g.retry.exponential.maxMs',
    );
    expect(bad({ g: { retry: { maxRetries: -1 } } })).toBe('groups.g.retry.maxRetries');
    expect(bad({ g: { ackTimeoutMs: 0 } })).toBe('groups.g.ackTimeoutMs');
    expect(bad({ Bad_Name: {} })).toBe('groups.Bad_Name');
  });
});

// The CRD schemas (charts/herald/crds) and the code both state some defaults: the apiserver
// fills in the schema's, the broker's standalone mode and the fallbacks for an unset field use
// the code's. They must agree; this test names every field where they drift. It also checks
// that an object's own default (`leases: { default: {...} }`) agrees with its fields' defaults.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import {
  DEFAULTS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_RETENTION_HOURS,
  resolveOptions,
} from '../../../common/broker-options';
import { POLICY_DEFAULTS, PUSH_DEFAULTS } from '../../../common/group-policy';
import { leaderElectionTiming } from '../../../operator/kube/leader-election';
import { POOL_SECURITY_DEFAULTS } from '../../../operator/controllers/broker-pool-objects';
import { DEFAULT_OFFSET_RETENTION_SECONDS } from '../../../operator/controllers/group-lag';

interface Schema {
  type?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, Schema>;
}

function spec(kind: string): Schema {
  const file = join(__dirname, '..', '..', '..', 'charts', 'herald', 'crds', `herald.dev_${kind}.yaml`);
  const crd = parse(readFileSync(file, 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: Schema } }[] };
  };
  return crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec;
}

const crds = {
  topics: spec('topics'),
  consumergroups: spec('consumergroups'),
  brokerpools: spec('brokerpools'),
};

/** The schema node at `path` (dots, below spec), or a failure naming the path. */
function node(kind: keyof typeof crds, path: string): Schema {
  let n: Schema | undefined = crds[kind];
  for (const key of path.split('.')) n = n?.properties?.[key];
  if (!n) throw new Error(`${kind}: no field spec.${path}`);
  return n;
}

// A topic as the broker resolves it when a field is left out (standalone topics).
const topic = resolveOptions({ mysql: { url: 'mysql://h:1/db' }, topics: [{ name: 't', partitions: 1 }] })
  .topics[0];

/** [CRD, field below spec, what the schema says, the code's value, where the code states it]. */
const pairs: [keyof typeof crds, string, 'default' | 'minimum' | 'maximum', unknown, string][] = [
  ['topics', 'retention.hours', 'default', DEFAULT_RETENTION_HOURS, 'DEFAULT_RETENTION_HOURS'],
  ['topics', 'retention.hours', 'default', topic.retentionHours, 'broker topic retentionHours'],
  ['topics', 'maxMessageBytes', 'default', DEFAULT_MAX_MESSAGE_BYTES, 'DEFAULT_MAX_MESSAGE_BYTES'],
  ['topics', 'maxMessageBytes', 'default', topic.maxMessageBytes, 'broker topic maxMessageBytes'],
  [
    'topics',
    'maxMessageBytes',
    'maximum',
    DEFAULTS.publish.maxRequestBytes,
    'broker publish.maxRequestBytes',
  ],
  ['topics', 'priority', 'default', topic.priority, 'broker topic priority'],
  ['topics', 'delay', 'default', topic.delay, 'broker topic delay'],
  ['consumergroups', 'retry.maxRetries', 'default', POLICY_DEFAULTS.maxRetries, 'POLICY_DEFAULTS.maxRetries'],
  [
    'consumergroups',
    'retry.exponential.multiplier',
    'default',
    POLICY_DEFAULTS.multiplier,
    'POLICY_DEFAULTS.multiplier',
  ],
  [
    'consumergroups',
    'deadLetter.enabled',
    'default',
    POLICY_DEFAULTS.deadLetter,
    'POLICY_DEFAULTS.deadLetter',
  ],
  [
    'consumergroups',
    'ackTimeoutSeconds',
    'default',
    POLICY_DEFAULTS.ackTimeoutMs / 1000,
    'POLICY_DEFAULTS.ackTimeoutMs / 1000',
  ],
  ['consumergroups', 'maxInFlight', 'default', POLICY_DEFAULTS.maxInFlight, 'POLICY_DEFAULTS.maxInFlight'],
  [
    'consumergroups',
    'broadcast.offsetRetentionSeconds',
    'default',
    DEFAULT_OFFSET_RETENTION_SECONDS,
    'DEFAULT_OFFSET_RETENTION_SECONDS',
  ],
  ['consumergroups', 'push.timeoutMs', 'default', PUSH_DEFAULTS.timeoutMs, 'PUSH_DEFAULTS.timeoutMs'],
  ['consumergroups', 'push.maxInFlight', 'default', PUSH_DEFAULTS.maxInFlight, 'PUSH_DEFAULTS.maxInFlight'],
  ['consumergroups', 'push.rate', 'default', PUSH_DEFAULTS.rate, 'PUSH_DEFAULTS.rate'],
  [
    'consumergroups',
    'push.batch.maxMessages',
    'default',
    PUSH_DEFAULTS.batch.maxMessages,
    'PUSH_DEFAULTS.batch.maxMessages',
  ],
  [
    'consumergroups',
    'push.batch.maxDelayMs',
    'default',
    PUSH_DEFAULTS.batch.maxDelayMs,
    'PUSH_DEFAULTS.batch.maxDelayMs',
  ],
  [
    'consumergroups',
    'push.batch.maxBytes',
    'default',
    PUSH_DEFAULTS.batch.maxBytes,
    'PUSH_DEFAULTS.batch.maxBytes',
  ],
  [
    'brokerpools',
    'leases.safetyMarginSeconds',
    'default',
    DEFAULTS.meta.safetyMarginSeconds,
    'broker meta.leases.safetyMarginSeconds',
  ],
  ['brokerpools', 'storage.mysql.poolSize', 'default', DEFAULTS.mysql.poolSize, 'broker mysql.poolSize'],
];

test('the CRD schemas state the same defaults and bounds as the code', () => {
  const drift = pairs
    .map(([kind, path, what, code, where]) => ({
      field: `${kind} spec.${path} ${what}`,
      crd: node(kind, path)[what],
      code,
      where,
    }))
    .filter((p) => p.crd !== p.code);
  expect(drift).toEqual([]);
});

test("a pool without spec.security (stored under an older CRD) gets the schema's default", () => {
  expect(POOL_SECURITY_DEFAULTS).toEqual(node('brokerpools', 'security').default);
});

test("an object's default agrees with its fields' defaults", () => {
  const drift: string[] = [];
  const walk = (kind: string, path: string, n: Schema): void => {
    if (n.default !== undefined && n.properties && typeof n.default === 'object') {
      for (const [key, value] of Object.entries(n.default as Record<string, unknown>)) {
        const own = n.properties[key]?.default;
        if (own !== undefined && !isDeepStrictEqual(own, value))
          drift.push(`${kind} ${path}.${key}: ${JSON.stringify(value)} vs ${JSON.stringify(own)}`);
      }
    }
    for (const [key, child] of Object.entries(n.properties ?? {})) walk(kind, `${path}.${key}`, child);
  };
  for (const [kind, s] of Object.entries(crds)) walk(kind, 'spec', s);
  expect(drift).toEqual([]);
});

test("the broker accepts exactly the CRD's range of partitions", () => {
  const { minimum, maximum } = node('topics', 'partitions');
  const accepts = (partitions: number) => {
    try {
      resolveOptions({ mysql: { url: 'mysql://h:1/db' }, topics: [{ name: 't', partitions }] });
      return true;
    } catch {
      return false;
    }
  };
  expect([minimum! - 1, minimum!, maximum!, maximum! + 1].map(accepts)).toEqual([false, true, true, false]);
});

test("the chart's operator leader election values are the code's defaults", () => {
  const file = join(__dirname, '..', '..', '..', 'charts', 'herald', 'values.yaml');
  const values = parse(readFileSync(file, 'utf8')) as { operator: { leaderElection: unknown } };
  expect(values.operator.leaderElection).toEqual(leaderElectionTiming('leaderElection', undefined));
});

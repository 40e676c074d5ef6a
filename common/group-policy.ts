// A consumer group's delivery policy: its tag filter, retry schedule, dead letters, ordering,
// ack timeout and in-flight bound. Lease mode reads it from the ConsumerGroup through the
// meta-server (GetConsumerLeasesResponse.policy); standalone mode from BrokerOptions.groups.
// Defaults are the ConsumerGroup CRD's. Pure: validation and conversion only.
import { X509Certificate } from 'node:crypto';
import type { GroupPolicy as GroupPolicyProto } from '../proto/gen/herald/v1/GroupPolicy';
import { OptionsError, bool, check, int, num, oneOf } from './options';
import type { RetryDelays, RetryPolicy } from './retry-schedule';
import { TagFilterError, parseTagFilter } from './tag-filter';
import type { TagExpr } from './tag-filter';

export interface GroupPolicy {
  /** The expression as declared ('' delivers everything). */
  tagFilter: string;
  /** The parsed filter, or the parse error that makes the broker refuse the group's reads. */
  filter: { ok: true; expr: TagExpr | undefined } | { ok: false; error: TagFilterError };
  retry: RetryPolicy;
  /** A failed message blocks its partition until it is acked or given up. */
  ordered: boolean;
  ackTimeoutMs: number;
  maxInFlight: number;
  /** mode: broadcast: every consumer reads every partition with offsets of its own. */
  broadcast: boolean;
  /** Where a consumer new to a broadcast group starts ('latest': the partition's end then). */
  startFrom: 'earliest' | 'latest';
  /** spec.push: the partitions' owners POST the messages to an endpoint (docs/push.md). */
  push: PushPolicy | undefined;
}

/** A push group's endpoint and how to send to it (the CRD's spec.push, with the key itself). */
export interface PushPolicy {
  url: string;
  timeoutMs: number;
  /** Requests in flight per partition (1 when the group is ordered). */
  maxInFlight: number;
  /** Messages per second for the whole group. */
  rate: number;
  headers: Record<string, string>;
  batch: { maxMessages: number; maxDelayMs: number; maxBytes: number };
  signing: { keyId: string; key: Buffer };
  retryClientErrors: boolean;
  /** PEM certificates an https:// url must chain to instead of the system CAs (spec.push.caSecretRef). */
  ca: string | undefined;
}

/** How a standalone options file declares a push endpoint (the CRD's fields, the key inline). */
export interface PushPolicyInput {
  url: string;
  timeoutMs?: number;
  maxInFlight?: number;
  rate?: number;
  headers?: Record<string, string>;
  batch?: { maxMessages?: number; maxDelayMs?: number; maxBytes?: number };
  signingKey: string;
  keyId?: string;
  retryClientErrors?: boolean;
  /** The PEM CA bundle an https:// url must chain to, inline (caSecretRef's content). */
  ca?: string;
}

/** How a group is declared in standalone BrokerOptions (the CRD's fields, in milliseconds). */
export interface GroupPolicyInput {
  tagFilter?: string;
  ordering?: 'concurrent' | 'ordered';
  retry?: {
    delaysMs?: number[];
    exponential?: { initialMs: number; multiplier?: number; maxMs: number };
    maxRetries?: number;
  };
  deadLetter?: { enabled?: boolean };
  ackTimeoutMs?: number;
  maxInFlight?: number;
  mode?: 'clustering' | 'broadcast';
  startFrom?: 'earliest' | 'latest';
  /** A push group's topic (standalone mode: which topic's partitions push to it). */
  topic?: string;
  push?: PushPolicyInput;
}

/** Hermes' 1:[3,6,9]: used when a group names neither delays nor exponential backoff. */
export const DEFAULT_RETRY_DELAYS_MS = [3_000, 6_000, 9_000];
export const POLICY_DEFAULTS = {
  maxRetries: 16,
  deadLetter: true,
  ackTimeoutMs: 30_000,
  maxInFlight: 1000,
  multiplier: 2,
};
/** The ConsumerGroup CRD's spec.push defaults. */
export const PUSH_DEFAULTS = {
  timeoutMs: 10_000,
  maxInFlight: 10,
  rate: 1000,
  batch: { maxMessages: 1, maxDelayMs: 0, maxBytes: 1_048_576 },
};
/** A signing key shorter than this is refused (operator: SigningSecretTooShort). */
export const MIN_SIGNING_KEY_BYTES = 16;
const HEADER_NAME = /^[A-Za-z0-9!#$%&*+.^_`|~-]+$/;

export function compileFilter(tagFilter: string): GroupPolicy['filter'] {
  try {
    return { ok: true, expr: parseTagFilter(tagFilter) };
  } catch (err) {
    if (err instanceof TagFilterError) return { ok: false, error: err };
    throw err;
  }
}

/** A standalone group's policy with defaults, or OptionsError naming the field relative to the group. */
export function resolveGroupPolicy(input: GroupPolicyInput = {}): GroupPolicy {
  const retry = input.retry ?? {};
  if (retry.delaysMs !== undefined && retry.exponential !== undefined) {
    throw new OptionsError('retry', 'takes delaysMs or exponential, not both');
  }
  let delays: RetryDelays;
  if (retry.exponential !== undefined) {
    const e = retry.exponential;
    check('retry.exponential.initialMs', e.initialMs, int(1));
    check('retry.exponential.maxMs', e.maxMs, int(e.initialMs));
    const multiplier = e.multiplier ?? POLICY_DEFAULTS.multiplier;
    check('retry.exponential.multiplier', multiplier, num({ min: 1, max: 100 }));
    delays = { kind: 'exponential', initialMs: e.initialMs, multiplier, maxMs: e.maxMs };
  } else {
    const list = retry.delaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    if (!Array.isArray(list) || list.length < 1 || list.length > 64) {
      throw new OptionsError('retry.delaysMs', 'must list 1..64 delays');
    }
    list.forEach((d, i) => check(`retry.delaysMs[${i}]`, d, int(0, 86_400_000)));
    delays = { kind: 'delays', delaysMs: [...list] };
  }
  const maxRetries = retry.maxRetries ?? POLICY_DEFAULTS.maxRetries;
  check('retry.maxRetries', maxRetries, int(0, 1000));
  const ordering = input.ordering ?? 'concurrent';
  check('ordering', ordering, oneOf('concurrent', 'ordered'));
  const deadLetter = input.deadLetter?.enabled ?? POLICY_DEFAULTS.deadLetter;
  check('deadLetter.enabled', deadLetter, bool);
  const ackTimeoutMs = input.ackTimeoutMs ?? POLICY_DEFAULTS.ackTimeoutMs;
  check('ackTimeoutMs', ackTimeoutMs, int(1, 86_400_000));
  const maxInFlight = input.maxInFlight ?? POLICY_DEFAULTS.maxInFlight;
  check('maxInFlight', maxInFlight, int(1, 100_000));
  const mode = input.mode ?? 'clustering';
  check('mode', mode, oneOf('clustering', 'broadcast'));
  const startFrom = input.startFrom ?? 'latest';
  check('startFrom', startFrom, oneOf('earliest', 'latest'));
  const tagFilter = input.tagFilter ?? '';
  check('tagFilter', tagFilter, { describe: 'a string', ok: (v) => typeof v === 'string' });
  const filter = compileFilter(tagFilter);
  if (!filter.ok) throw new OptionsError('tagFilter', `is not a valid expression: ${filter.error.message}`);
  const push = input.push === undefined ? undefined : resolvePush(input.push);
  if (push && mode === 'broadcast') throw new OptionsError('push', 'is for clustering groups only');
  return {
    tagFilter,
    filter,
    retry: { delays, maxRetries, deadLetter },
    ordered: ordering === 'ordered',
    ackTimeoutMs,
    maxInFlight,
    broadcast: mode === 'broadcast',
    startFrom,
    push,
  };
}

function resolvePush(p: PushPolicyInput): PushPolicy {
  check('push.url', p.url, {
    describe: 'an http:// or https:// URL',
    ok: (v) => typeof v === 'string' && /^https?:\/\/[^/\s]+/.test(v) && URL.canParse(v),
  });
  const timeoutMs = p.timeoutMs ?? PUSH_DEFAULTS.timeoutMs;
  check('push.timeoutMs', timeoutMs, int(1, 300_000));
  const maxInFlight = p.maxInFlight ?? PUSH_DEFAULTS.maxInFlight;
  check('push.maxInFlight', maxInFlight, int(1, 1000));
  const rate = p.rate ?? PUSH_DEFAULTS.rate;
  check('push.rate', rate, int(1, 1_000_000));
  const headers = p.headers ?? {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || name.toLowerCase().startsWith('herald-'))
      throw new OptionsError(`push.headers.${name}`, 'must be an HTTP token not starting with Herald-');
    check(`push.headers.${name}`, value, { describe: 'a string', ok: (v) => typeof v === 'string' });
  }
  const b = { ...PUSH_DEFAULTS.batch, ...p.batch };
  check('push.batch.maxMessages', b.maxMessages, int(1, 1000));
  check('push.batch.maxDelayMs', b.maxDelayMs, int(0, 60_000));
  check('push.batch.maxBytes', b.maxBytes, int(1024, 16_777_216));
  check('push.signingKey', p.signingKey, {
    describe: `a string of at least ${MIN_SIGNING_KEY_BYTES} bytes`,
    ok: (v) => typeof v === 'string' && Buffer.byteLength(v) >= MIN_SIGNING_KEY_BYTES,
  });
  const keyId = p.keyId ?? 'default';
  check('push.keyId', keyId, {
    describe: '1-64 of [A-Za-z0-9._-]',
    ok: (v) => typeof v === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(v),
  });
  const retryClientErrors = p.retryClientErrors ?? false;
  check('push.retryClientErrors', retryClientErrors, bool);
  if (p.ca !== undefined) {
    const problem = typeof p.ca === 'string' ? caBundleProblem(p.ca) : 'is not a string';
    if (problem) throw new OptionsError('push.ca', problem);
  }
  return {
    url: p.url,
    timeoutMs,
    maxInFlight,
    rate,
    headers: { ...headers },
    batch: b,
    signing: { keyId, key: Buffer.from(p.signingKey) },
    retryClientErrors,
    ca: p.ca,
  };
}

/** spec.push as the meta-server sent it; undefined when the group pulls. */
function pushFromProto(p: GroupPolicyProto['push']): PushPolicy | undefined {
  if (!p || p.url === '') return undefined;
  const d = PUSH_DEFAULTS;
  return {
    url: p.url,
    timeoutMs: p.timeoutMs || d.timeoutMs,
    maxInFlight: p.maxInFlight || d.maxInFlight,
    rate: p.rate || d.rate,
    headers: { ...p.headers },
    batch: {
      maxMessages: p.batchMaxMessages || d.batch.maxMessages,
      maxDelayMs: p.batchMaxDelayMs,
      maxBytes: p.batchMaxBytes || d.batch.maxBytes,
    },
    signing: { keyId: p.signingKeyId, key: Buffer.from(p.signingKey) },
    retryClientErrors: p.retryClientErrors,
    ca: p.caPem || undefined,
  };
}

/**
 * The policy the meta-server sent (absent: the defaults). Values the CRD already validated are
 * taken as they are; a filter that does not parse is kept as an error, so only that group's
 * reads are refused.
 */
export function policyFromProto(p: GroupPolicyProto | null | undefined, mode = 'clustering'): GroupPolicy {
  const defaults = resolveGroupPolicy({ mode: mode === 'broadcast' ? 'broadcast' : 'clustering' });
  if (!p) return defaults;
  const delays: RetryDelays =
    p.retryDelaysSeconds.length > 0
      ? { kind: 'delays', delaysMs: p.retryDelaysSeconds.map((s) => s * 1000) }
      : p.exponential
        ? {
            kind: 'exponential',
            initialMs: p.exponential.initialSeconds * 1000,
            multiplier: p.exponential.multiplier || POLICY_DEFAULTS.multiplier,
            maxMs: Math.max(p.exponential.maxSeconds, p.exponential.initialSeconds) * 1000,
          }
        : defaults.retry.delays;
  return {
    tagFilter: p.tagFilter,
    filter: compileFilter(p.tagFilter),
    retry: { delays, maxRetries: p.maxRetries, deadLetter: p.deadLetter },
    ordered: p.ordered,
    ackTimeoutMs: p.ackTimeoutMs || defaults.ackTimeoutMs,
    maxInFlight: p.maxInFlight || defaults.maxInFlight,
    broadcast: defaults.broadcast,
    startFrom: p.startFrom === 'earliest' ? 'earliest' : 'latest',
    push: pushFromProto(p.push),
  };
}

/** Where the delivery path finds each group's policy. */
export interface GroupPolicies {
  /** The group's current policy (may ask the meta-server; cached by the implementation). */
  policy(group: string): Promise<GroupPolicy>;
  /** The policy when it is cached and fresh, without asking anyone; undefined: ask `policy`. */
  cachedPolicy(group: string): GroupPolicy | undefined;
}

/** Standalone mode: the groups of BrokerOptions, and a default for every other group. */
export class StaticGroupPolicies implements GroupPolicies {
  constructor(
    private readonly groups: Record<string, GroupPolicy>,
    private readonly fallback: GroupPolicy,
  ) {}

  policy(group: string): Promise<GroupPolicy> {
    return Promise.resolve(this.cachedPolicy(group));
  }

  cachedPolicy(group: string): GroupPolicy {
    return Object.hasOwn(this.groups, group) ? this.groups[group] : this.fallback;
  }
}

/**
 * Why `pem` is not a CA bundle (one or more PEM certificates, nothing else), or undefined. Node
 * would skip what does not parse and trust nothing, so a bad bundle is refused up front.
 */
export function caBundleProblem(pem: string): string | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `certificate ${i + 1} does not parse`;
    }
  }
  return undefined;
}

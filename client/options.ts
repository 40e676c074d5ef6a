// The SDK's options: defaults spread first, then every field checked, with errors naming the
// field ("lingerMs must be an integer in 0..60000, got -1"). Pure; unit-tested.
import { BACKOFF_DEFAULTS, checkBackoff } from '../common/backoff';
import type { BackoffOptions } from '../common/backoff';
import { silentLogger } from '../common/logger';
import type { Logger } from '../common/logger';

/** Where the SDK finds Herald: the meta-server (routing) or, for simple setups, one broker. */
export interface ConnectionOptions {
  /** Meta-server addresses (host:port; any operator replica). Either this or `broker`. */
  meta: string[];
  /** One broker's host:port, used for every call (it forwards to the owner). */
  broker: string | undefined;
  /** The Kubernetes namespace of the topics and groups (with `meta`). */
  namespace: string;
  /** How long each call may take. */
  callTimeoutMs: number;
  /** How long cached routes are trusted. */
  routeTtlMs: number;
  logger: Logger;
}

export interface ProducerOptions extends ConnectionOptions {
  /**
   * On a partition with no Publish in flight, how long the first message of a batch waits for
   * company (0: until the end of the current event-loop turn). While a Publish is in flight,
   * messages collect until it is answered, whatever this is (client/batching.ts).
   */
  lingerMs: number;
  /** Messages per Publish (the broker accepts up to 1000 by default). */
  maxBatchMessages: number;
  /** Bytes of bodies per Publish. */
  maxBatchBytes: number;
  /** Total time for one message, retries included, before send() rejects. */
  deliveryTimeoutMs: number;
  retry: BackoffOptions;
}

export interface ConsumerOptions extends ConnectionOptions {
  group: string;
  /** Unique per consumer process. */
  consumerId: string;
  /** The consumer's zone, for zone-aware assignment. */
  zone: string;
  /** "pull" (long poll, the default) or "subscribe" (a stream paced by credits). */
  fetch: 'pull' | 'subscribe';
  /** Handlers running at once, over all partitions. */
  concurrency: number;
  /** Long-poll wait per Pull. */
  maxWaitMs: number;
  /** Redelivery after this time without an ack (0: the group's / broker's default). */
  ackTimeoutMs: number;
  /** Ack after the handler resolves (true) or never ack (false: messages come back after the ack timeout). */
  autoAck: boolean;
  /** How long close() waits for running handlers. */
  closeTimeoutMs: number;
  /** Without a meta-server: the topic and partitions to read (no group membership). */
  topic: string | undefined;
  partitions: number[] | undefined;
  retry: BackoffOptions;
}

export type Input<T> = Partial<Omit<T, 'meta' | 'retry'>> & {
  meta?: string | string[];
  retry?: Partial<BackoffOptions>;
};

export const CONNECTION_DEFAULTS = {
  namespace: 'default',
  callTimeoutMs: 10_000,
  routeTtlMs: 30_000,
};

export const PRODUCER_DEFAULTS = {
  lingerMs: 0,
  maxBatchMessages: 500,
  maxBatchBytes: 1024 * 1024,
  deliveryTimeoutMs: 30_000,
};

export const CONSUMER_DEFAULTS = {
  fetch: 'pull' as const,
  concurrency: 10,
  maxWaitMs: 5_000,
  ackTimeoutMs: 0,
  autoAck: true,
  closeTimeoutMs: 10_000,
};

export function connectionOptions(input: Input<ConnectionOptions>): ConnectionOptions {
  const meta = typeof input.meta === 'string' ? input.meta.split(',') : (input.meta ?? []);
  const o: ConnectionOptions = {
    ...CONNECTION_DEFAULTS,
    logger: silentLogger,
    broker: undefined,
    ...pick(input, ['broker', 'namespace', 'callTimeoutMs', 'routeTtlMs', 'logger']),
    meta: meta.map((a) => a.trim()).filter((a) => a !== ''),
  };
  if (o.meta.length === 0 && o.broker === undefined) {
    throw new RangeError('meta or broker must be set: a meta-server address (routing) or one broker address');
  }
  o.meta.forEach((a) => hostPort('meta', a));
  if (o.broker !== undefined) hostPort('broker', o.broker);
  if (typeof o.namespace !== 'string' || o.namespace === '') {
    throw new RangeError('namespace must be a non-empty string');
  }
  int('callTimeoutMs', o.callTimeoutMs, 1, 3_600_000);
  int('routeTtlMs', o.routeTtlMs, 1, 3_600_000);
  return o;
}

export function producerOptions(input: Input<ProducerOptions> = {}): ProducerOptions {
  const o: ProducerOptions = {
    ...PRODUCER_DEFAULTS,
    ...connectionOptions(input),
    ...pick(input, ['lingerMs', 'maxBatchMessages', 'maxBatchBytes', 'deliveryTimeoutMs']),
    retry: checkBackoff('retry', { ...BACKOFF_DEFAULTS, ...stripUndefined(input.retry ?? {}) }),
  };
  int('lingerMs', o.lingerMs, 0, 60_000);
  int('maxBatchMessages', o.maxBatchMessages, 1, 100_000);
  int('maxBatchBytes', o.maxBatchBytes, 1, 1024 * 1024 * 1024);
  int('deliveryTimeoutMs', o.deliveryTimeoutMs, 1, 24 * 3_600_000);
  return o;
}

export function consumerOptions(input: Input<ConsumerOptions>): ConsumerOptions {
  const o: ConsumerOptions = {
    ...CONSUMER_DEFAULTS,
    ...connectionOptions(input),
    group: '',
    consumerId: '',
    zone: '',
    topic: undefined,
    partitions: undefined,
    ...pick(input, [
      'group',
      'consumerId',
      'zone',
      'fetch',
      'concurrency',
      'maxWaitMs',
      'ackTimeoutMs',
      'autoAck',
      'closeTimeoutMs',
      'topic',
      'partitions',
    ]),
    retry: checkBackoff('retry', { ...BACKOFF_DEFAULTS, ...stripUndefined(input.retry ?? {}) }),
  };
  if (typeof o.group !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.group)) {
    throw new RangeError(`group must be a DNS-1123 label, got ${JSON.stringify(o.group)}`);
  }
  if (o.consumerId === '') o.consumerId = defaultConsumerId();
  if (o.fetch !== 'pull' && o.fetch !== 'subscribe') {
    throw new RangeError(`fetch must be "pull" or "subscribe", got ${JSON.stringify(o.fetch)}`);
  }
  int('concurrency', o.concurrency, 1, 10_000);
  int('maxWaitMs', o.maxWaitMs, 1, 30_000);
  int('ackTimeoutMs', o.ackTimeoutMs, 0, 24 * 3_600_000);
  int('closeTimeoutMs', o.closeTimeoutMs, 0, 3_600_000);
  if (typeof o.autoAck !== 'boolean') throw new RangeError('autoAck must be a boolean');
  if (o.meta.length === 0) {
    // Direct mode reads fixed partitions of one topic without group membership.
    if (!o.topic) throw new RangeError('topic must be set when reading without a meta-server');
    if (!Array.isArray(o.partitions) || o.partitions.length === 0) {
      throw new RangeError('partitions must list at least one partition when reading without a meta-server');
    }
    o.partitions.forEach((p, i) => int(`partitions[${i}]`, p, 0, 1023));
  }
  return o;
}

function defaultConsumerId(): string {
  const host = (process.env.HOSTNAME ?? 'local').toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `${host}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

function pick<T extends object, K extends keyof T>(input: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (input[k] !== undefined) out[k] = input[k];
  return out;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function int(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${field} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
}

function hostPort(field: string, value: unknown): void {
  if (typeof value !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(value)) {
    throw new RangeError(`${field} must be host:port, got ${JSON.stringify(value)}`);
  }
}

// The SDK's options, one table per kind (connection, producer, consumer): each option's default
// and rule written once and checked by common/options.ts, whose errors name the field
// ("lingerMs must be an integer in 0..60000, got -1"). Pure; unit-tested.
import { BACKOFF_DEFAULTS, checkBackoff } from '../common/backoff';
import type { BackoffOptions } from '../common/backoff';
import { silentLogger } from '../common/logger';
import type { Logger } from '../common/logger';
import type { ClientSecurity } from '../common/grpc/credentials';
import { clientSecurity } from './security';
import type { SecurityInput } from './security';
import {
  OptionsError,
  bool,
  check,
  field,
  hostPort,
  int,
  matches,
  nonEmpty,
  oneOf,
  resolve,
} from '../common/options';
import type { Table } from '../common/options';

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
  /**
   * TLS and credentials, from caFile / certFile / keyFile / token / tokenFile, or in a pod the
   * mounted CA and projected ServiceAccount token (client/security.ts); plaintext otherwise.
   */
  security: ClientSecurity | undefined;
}

export interface ProducerOptions extends ConnectionOptions {
  /**
   * How long the first message of a batch waits for company (0: until the end of the current
   * event-loop turn). The messages of a key with maxInFlight Publishes in flight collect until
   * one is answered, whatever this is (client/batching.ts).
   */
  lingerMs: number;
  /** Messages per Publish (the broker accepts up to 1000 by default). */
  maxBatchMessages: number;
  /** Bytes of bodies per Publish. */
  maxBatchBytes: number;
  /**
   * Publishes carrying one key (for messages without a key: one partition) that may be in
   * flight at once (Kafka's max.in.flight.requests.per.connection, per key). 1 stores a key's
   * messages in send() order, retries included, while other keys' messages go without waiting;
   * above 1 a key's send need not wait for the answer to its previous Publish, but its Publishes
   * in flight together may be stored in either order (docs/sdk.md, "Order").
   */
  maxInFlight: number;
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

export type Input<T> = Partial<Omit<T, 'meta' | 'retry' | 'security'>> &
  SecurityInput & {
    meta?: string | string[];
    retry?: Partial<BackoffOptions>;
  };

const HOUR_MS = 3_600_000;

const CONNECTION: Table<Pick<ConnectionOptions, 'namespace' | 'callTimeoutMs' | 'routeTtlMs'>> = {
  namespace: field('default', nonEmpty),
  callTimeoutMs: field(10_000, int(1, HOUR_MS)),
  routeTtlMs: field(30_000, int(1, HOUR_MS)),
};

const PRODUCER: Table<
  Pick<
    ProducerOptions,
    'lingerMs' | 'maxBatchMessages' | 'maxBatchBytes' | 'maxInFlight' | 'deliveryTimeoutMs'
  >
> = {
  lingerMs: field(0, int(0, 60_000)),
  maxBatchMessages: field(500, int(1, 100_000)),
  maxBatchBytes: field(1024 * 1024, int(1, 1024 * 1024 * 1024)),
  maxInFlight: field(1, int(1, 16)),
  deliveryTimeoutMs: field(30_000, int(1, 24 * HOUR_MS)),
};

type ConsumerTableFields =
  'group' | 'fetch' | 'concurrency' | 'maxWaitMs' | 'ackTimeoutMs' | 'autoAck' | 'closeTimeoutMs';
const CONSUMER: Table<Pick<ConsumerOptions, ConsumerTableFields>> = {
  group: field('', matches(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS-1123 label')),
  fetch: field<ConsumerOptions['fetch']>('pull', oneOf('pull', 'subscribe')),
  concurrency: field(10, int(1, 10_000)),
  maxWaitMs: field(5_000, int(1, 30_000)),
  ackTimeoutMs: field(0, int(0, 24 * HOUR_MS)),
  autoAck: field(true, bool),
  closeTimeoutMs: field(10_000, int(0, HOUR_MS)),
};

export function connectionOptions(input: Input<ConnectionOptions>): ConnectionOptions {
  const meta = typeof input.meta === 'string' ? input.meta.split(',') : (input.meta ?? []);
  const o: ConnectionOptions = {
    ...resolve('', CONNECTION, input),
    logger: input.logger ?? silentLogger,
    broker: input.broker,
    meta: meta.map((a) => a.trim()).filter((a) => a !== ''),
    security: clientSecurity(input),
  };
  if (o.meta.length === 0 && o.broker === undefined) {
    throw new OptionsError(
      'meta or broker',
      'must be set: a meta-server address (routing) or one broker address',
    );
  }
  o.meta.forEach((a) => check('meta', a, hostPort));
  if (o.broker !== undefined) check('broker', o.broker, hostPort);
  return o;
}

export function producerOptions(input: Input<ProducerOptions> = {}): ProducerOptions {
  return {
    ...connectionOptions(input),
    ...resolve('', PRODUCER, input),
    retry: retryOptions(input.retry),
  };
}

export function consumerOptions(input: Input<ConsumerOptions>): ConsumerOptions {
  const o: ConsumerOptions = {
    ...connectionOptions(input),
    ...resolve('', CONSUMER, input),
    consumerId: input.consumerId || defaultConsumerId(),
    zone: input.zone ?? '',
    topic: input.topic,
    partitions: input.partitions,
    retry: retryOptions(input.retry),
  };
  if (o.meta.length === 0) {
    // Direct mode reads fixed partitions of one topic without group membership.
    check('topic', o.topic, { describe: 'set when reading without a meta-server', ok: (t) => !!t });
    check('partitions', o.partitions, {
      describe: 'a list of at least one partition when reading without a meta-server',
      ok: (p) => Array.isArray(p) && p.length > 0,
    });
    o.partitions?.forEach((p, i) => check(`partitions[${i}]`, p, int(0, 1023)));
  }
  return o;
}

function retryOptions(input: Partial<BackoffOptions> | undefined): BackoffOptions {
  const set = Object.fromEntries(Object.entries(input ?? {}).filter(([, v]) => v !== undefined));
  return checkBackoff('retry', { ...BACKOFF_DEFAULTS, ...set });
}

function defaultConsumerId(): string {
  const host = (process.env.HOSTNAME ?? 'local').toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `${host}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

// kafkajs' Cluster, reached through a documented hook: a consumer hands its Cluster to each of
// its partition assigners when it is created. The consumer itself is never connected, so no
// group is joined; the Cluster gives broker-level requests (fetch, listOffsets, offset commits)
// without importing kafkajs internals. Each Cluster keeps one connection per Kafka broker and
// Kafka answers one request per connection at a time, so callers that must not wait for each
// other (a parked long poll, a one-shot read) use separate Clusters.
import type { Cluster, Kafka } from 'kafkajs';
import { HeraldError } from '../../common/errors';
import type { Reason } from '../../common/errors';

interface PartitionOffsets {
  partition: number;
  offset: string;
  errorCode?: number;
}

/** The broker requests this adapter sends (kafkajs' Broker, typed as far as we use it). */
export interface KafkaBroker {
  apiVersions(): Promise<Record<number, { minVersion: number; maxVersion: number } | undefined>>;
  listOffsets(request: {
    isolationLevel: number;
    topics: { topic: string; partitions: { partition: number; timestamp: number }[] }[];
  }): Promise<{ responses: { topic: string; partitions: PartitionOffsets[] }[] }>;
  offsetCommit(request: {
    groupId: string;
    groupGenerationId: number;
    memberId: string;
    topics: { topic: string; partitions: { partition: number; offset: string }[] }[];
  }): Promise<unknown>;
  initProducerId(request: {
    transactionTimeout: number;
  }): Promise<{ producerId: string; producerEpoch: number }>;
  /**
   * kafkajs' connections to this broker: send() writes a request (its encode() gives the body
   * after kafkajs' request header) and answers what `response` decodes (produce.ts' Produce,
   * fetch.ts' Fetch); a request that waits on Kafka's side says how long in `requestTimeout`.
   */
  connectionPool: {
    send<T>(request: {
      request: { apiKey: number; apiVersion: number; apiName: string; encode(): Promise<unknown> };
      response: { decode(payload: Buffer): Promise<T>; parse(decoded: T): Promise<T> };
      requestTimeout?: number;
    }): Promise<T>;
  };
  offsetFetch(request: {
    groupId: string;
    topics: { topic: string; partitions: { partition: number }[] }[];
  }): Promise<{ responses: { topic: string; partitions: PartitionOffsets[] }[] }>;
}

export interface HeraldCluster {
  raw: Cluster;
  broker(nodeId: string): Promise<KafkaBroker>;
  coordinator(groupId: string): Promise<KafkaBroker>;
  /** The cluster's controller (any broker would do for a non-transactional producer id). */
  controller(): Promise<KafkaBroker>;
}

/** ListOffsets' special timestamps. */
export const LATEST = -1;
export const EARLIEST = -2;
/** Fetch isolation: records of aborted transactions and open ones are not returned. */
export const READ_COMMITTED = 1;
/** Whole-fetch byte limit: several partitions' worth, so one large partition cannot starve the rest. */
export const FETCH_TOTAL_BYTES = 16 * 1024 * 1024;

/**
 * Retries of a request that met stale metadata or a leader not ready yet, backing off 100 ms
 * doubling (about 1.5 s in all; a publish stops earlier, at its publishTimeoutMs).
 */
export const STALE_LEADER_RETRIES = 5;

/** A partition's key in this adapter's maps. */
export function partitionKey(ref: { topic: string; partition: number }): string {
  return `${ref.topic}\u0000${ref.partition}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `work`, or STORAGE_UNAVAILABLE after `ms` (the work itself is then abandoned, not stopped). */
export function deadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HeraldError('STORAGE_UNAVAILABLE', `${message} (${ms} ms)`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function openCluster(kafka: Kafka): HeraldCluster {
  let captured: Cluster | undefined;
  kafka.consumer({
    // Never joined: the consumer only exists to hand over its Cluster.
    groupId: 'herald-unused',
    // Metadata requests never create a topic (Kafka's auto.create.topics.enable notwithstanding):
    // Herald's topics are created by the operator, and a publish to a deleted one must fail.
    allowAutoTopicCreation: false,
    partitionAssigners: [
      ({ cluster }) => {
        captured = cluster;
        return {
          name: 'herald-unused',
          version: 1,
          assign: () => Promise.resolve([]),
          protocol: () => ({ name: 'herald-unused', metadata: Buffer.alloc(0) }),
        };
      },
    ],
  });
  if (!captured) throw new Error('kafkajs did not hand its Cluster to the partition assigner');
  const raw = captured;
  return {
    raw,
    broker: async (nodeId) => (await raw.findBroker({ nodeId })) as unknown as KafkaBroker,
    coordinator: async (groupId) => (await raw.findGroupCoordinator({ groupId })) as unknown as KafkaBroker,
    controller: async () => (await raw.findControllerBroker()) as unknown as KafkaBroker,
  };
}

/** Kafka's error codes that this adapter's own requests (Produce, Fetch) tell apart, by type. */
const KAFKA_ERRORS: Record<number, string> = {
  1: 'OFFSET_OUT_OF_RANGE',
  2: 'CORRUPT_MESSAGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_OR_FOLLOWER',
  7: 'REQUEST_TIMED_OUT',
  10: 'MESSAGE_TOO_LARGE',
  18: 'RECORD_LIST_TOO_LARGE',
  19: 'NOT_ENOUGH_REPLICAS',
  20: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  45: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
  46: 'DUPLICATE_SEQUENCE_NUMBER',
  47: 'INVALID_PRODUCER_EPOCH',
  59: 'UNKNOWN_PRODUCER_ID',
  74: 'FENCED_LEADER_EPOCH',
  75: 'UNKNOWN_LEADER_EPOCH',
  87: 'INVALID_RECORD',
};

export function kafkaErrorName(code: number): string {
  return KAFKA_ERRORS[code] ?? `error ${code}`;
}

/** An error code in the answer to one of this adapter's own requests; kafkaErrorType reads `type`. */
export class KafkaProtocolError extends Error {
  override readonly name = 'KafkaProtocolError';

  constructor(
    readonly type: string,
    readonly errorCode: number,
    readonly topic?: string,
    readonly partition?: number,
  ) {
    super(
      topic === undefined
        ? `Kafka answered ${type}`
        : `Kafka answered ${type} for ${topic}/${partition ?? ''}`,
    );
  }
}

/** The Kafka error type of a kafkajs error (unwrapping retries), e.g. 'OFFSET_OUT_OF_RANGE'. */
export function kafkaErrorType(err: unknown): string | undefined {
  for (let e = err as { type?: unknown; originalError?: unknown; cause?: unknown } | undefined; e;) {
    if (typeof e.type === 'string') return e.type;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return undefined;
}

/** Errors after which the partition's leader may have moved: refresh metadata and try again. */
const STALE_METADATA = new Set([
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'NOT_COORDINATOR_FOR_GROUP',
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
]);

export function isStaleMetadata(err: unknown): boolean {
  const type = kafkaErrorType(err);
  return (
    (type !== undefined && STALE_METADATA.has(type)) ||
    (err as { name?: string }).name === 'KafkaJSBrokerNotFound' ||
    (err as { name?: string }).name === 'KafkaJSTopicMetadataNotLoaded'
  );
}

/** A kafkajs failure as a HeraldError: the Kafka error type decides, never the message text. */
export function toHeraldError(err: unknown, what: string): HeraldError {
  if (err instanceof HeraldError) return err;
  const type = kafkaErrorType(err);
  const message = err instanceof Error ? err.message : String(err);
  const reason: Reason =
    type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE'
      ? 'MESSAGE_TOO_LARGE'
      : type === 'UNKNOWN_MEMBER_ID' || type === 'ILLEGAL_GENERATION' || type === 'REBALANCE_IN_PROGRESS'
        ? 'INVALID_REQUEST'
        : 'STORAGE_UNAVAILABLE';
  return new HeraldError(reason, `${what}: ${message}`, type ? { kafkaError: type } : {}, { cause: err });
}

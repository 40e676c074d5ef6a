// The publish path: validates a request as a whole (so a bad message stores nothing of
// the batch), picks the partition (explicit, key hash or round-robin), checks ownership and
// storage, and queues the batch on the partition's writer.
import { HeraldError } from '../../client/errors';
import type { BrokerMetrics } from '../metrics';
import type { BrokerOptions } from '../options';
import type { StorageHealth } from '../storage/health';
import type { NewMessage, PartitionRef } from '../storage/storage';
import { partitionKey } from '../topics';
import type { Topics } from '../topics';
import { partitionForKey } from '../../client/partitioner';
import type { GroupCommitter } from './group-committer';
import type { PartitionWriter } from './partition-writer';

export type Route = { partition: number } | { key: string } | undefined;

export interface PublishInput {
  topic: string;
  route: Route;
  messages: NewMessage[];
}

export interface PublishOutput {
  ref: PartitionRef;
  firstOffset: number;
  count: number;
}

export function messageBytes(m: NewMessage): number {
  let n = m.body.length + Buffer.byteLength(m.key) + Buffer.byteLength(m.refKey);
  for (const t of m.tags) n += Buffer.byteLength(t);
  for (const [k, v] of Object.entries(m.properties)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

export class Publisher {
  private roundRobin = 0;

  constructor(
    private readonly topics: Topics,
    private readonly writers: Map<string, PartitionWriter>,
    private readonly committer: GroupCommitter,
    private readonly health: StorageHealth,
    private readonly limits: BrokerOptions['publish'],
    private readonly metrics: BrokerMetrics,
  ) {}

  async publish(input: PublishInput): Promise<PublishOutput> {
    try {
      const out = await this.enqueue(input);
      this.metrics.publishRequests.inc({ topic: input.topic, outcome: 'ok' });
      return out;
    } catch (err) {
      const reason = err instanceof HeraldError ? err.reason : 'INTERNAL_ERROR';
      // Unknown topics are not labels: a typo must not create a time series.
      const topic = reason === 'TOPIC_NOT_FOUND' || reason === 'INVALID_NAME' ? '' : input.topic;
      this.metrics.publishRequests.inc({ topic, outcome: reason });
      throw err;
    }
  }

  /** Everything up to the writer's queue is synchronous, so arrival order is queue order. */
  private enqueue(input: PublishInput): Promise<PublishOutput> {
    const topic = this.topics.topic(input.topic);
    const { messages } = input;
    if (messages.length === 0) {
      throw new HeraldError('INVALID_REQUEST', 'a publish request needs at least one message', {
        field: 'messages',
      });
    }
    if (messages.length > this.limits.maxRequestMessages) {
      throw new HeraldError(
        'BATCH_TOO_LARGE',
        `${messages.length} messages in one request; at most ${this.limits.maxRequestMessages}`,
        { limit: String(this.limits.maxRequestMessages), field: 'messages' },
      );
    }
    let bytes = 0;
    messages.forEach((m, index) => {
      const size = messageBytes(m);
      if (size > topic.maxMessageBytes) {
        throw new HeraldError(
          'MESSAGE_TOO_LARGE',
          `message ${index} is ${size} bytes; topic ${topic.name} accepts at most ${topic.maxMessageBytes}`,
          { index: String(index), size: String(size), limit: String(topic.maxMessageBytes) },
        );
      }
      bytes += size;
    });
    if (bytes > this.limits.maxRequestBytes) {
      throw new HeraldError(
        'BATCH_TOO_LARGE',
        `${bytes} bytes in one request; at most ${this.limits.maxRequestBytes}`,
        {
          limit: String(this.limits.maxRequestBytes),
          field: 'messages',
        },
      );
    }
    const ref = this.route(input);
    if (!this.health.available) {
      throw new HeraldError('STORAGE_UNAVAILABLE', 'the message store is unavailable; nothing was stored', {
        cause: this.health.lastError?.message ?? '',
      });
    }
    const writer = this.writers.get(partitionKey(ref))!;
    const key = input.route && 'key' in input.route ? input.route.key : undefined;
    const stored = key === undefined ? messages : messages.map((m) => (m.key === '' ? { ...m, key } : m));
    return this.committer
      .publish(writer, stored, bytes)
      .then((firstOffset) => ({ ref, firstOffset, count: messages.length }));
  }

  private route(input: PublishInput): PartitionRef {
    const { route, topic } = input;
    if (route && 'partition' in route) return this.topics.ownedPartition(topic, route.partition);
    if (route && 'key' in route) {
      const partitions = this.topics.topic(topic).partitions;
      return this.topics.ownedPartition(topic, partitionForKey(route.key, partitions));
    }
    const owned = this.topics.ownedPartitions(topic);
    if (owned.length === 0) {
      throw new HeraldError('NOT_PARTITION_OWNER', `this broker owns no partition of ${topic}`, { topic });
    }
    return owned[this.roundRobin++ % owned.length];
  }
}

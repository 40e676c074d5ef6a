// The publish path: validates a request as a whole (so a bad message stores nothing of
// the batch), picks the partition (explicit, key hash or round-robin), checks ownership,
// storage, the topic's rate limit (this owner's share of it, publish/rate-limit.ts) and the
// broker's budget of pending bytes (publish/publish-budget.ts), and queues the batch on the
// partition's writer.
import { HeraldError } from '../../common/errors';
import { messageSize } from '../../common/message-size';
import { TAG_PATTERN } from '../../common/tag-filter';
import type { BrokerMetrics } from '../metrics';
import type { BrokerOptions, TopicOptions } from '../../common/broker-options';
import type { Delays } from '../delay/delays';
import type { DelayedMessage } from '../../storage/delay-store';
import { requireCapability } from '../../storage/index';
import type { StorageHealth } from '../storage-health';
import type { NewMessage, PartitionRef } from '../../storage/storage';
import { publishDetail, scheduledEvent, storedEvent } from '../trace/publish-events';
import type { Tracer } from '../trace/tracer';
import { partitionKey } from '../topics';
import type { Topics } from '../topics';
import { partitionForKey } from '../../common/partitioner';
import type { GroupCommitter } from './group-committer';
import type { PartitionWriter } from './partition-writer';
import { TopicRateLimits } from './rate-limit';
import { PublishBudget } from './publish-budget';

/** retry_after_ms of a publish refused because publish.maxPendingBytes is full: about one loaded commit. */
const BUDGET_RETRY_AFTER_MS = 20;

export type Route = { partition: number } | { key: string } | undefined;

/** Message.schedule: deliverable at a time (ms since the epoch) or after a delay (ms). */
export type Schedule = { deliverAtMs: number } | { delayMs: number } | undefined;

export interface PublishInput {
  topic: string;
  route: Route;
  messages: NewMessage[];
  /** Per message (same order); absent: every message is deliverable at once. */
  schedules?: Schedule[];
  /** The producer's address (the gRPC peer, or the original one of a forwarded call). */
  peer: string;
  /**
   * When the pending-bytes budget is full: `refuse` (a unary call, RATE_LIMITED) or `take` (a
   * PublishStream request already read; its stream stops reading instead). Default refuse.
   */
  whenFull?: 'refuse' | 'take';
}

export interface PublishOutput {
  ref: PartitionRef;
  firstOffset: number;
  count: number;
  /** The topic's partition count (clients without a meta-server hash keys with it). */
  partitions: number;
  /** Set when the messages went to the delay table: their ids and due times, in order. */
  delayed?: DelayedMessage[];
}

export class Publisher {
  private roundRobin = 0;
  private readonly rateLimits = new TopicRateLimits();
  /** Bytes accepted and not yet answered, broker-wide (publish.maxPendingBytes). */
  readonly budget: PublishBudget;

  constructor(
    private readonly topics: Topics,
    private readonly writers: Map<string, PartitionWriter>,
    /** The group committer of the topic's message store. */
    private readonly committers: (topic: string) => GroupCommitter,
    private readonly health: StorageHealth,
    private readonly limits: BrokerOptions['publish'],
    private readonly metrics: BrokerMetrics,
    private readonly delays: Delays,
    private readonly delayLimits: BrokerOptions['delay'],
    private readonly tracer: Tracer,
  ) {
    this.budget = new PublishBudget(limits.maxPendingBytes, (bytes) =>
      metrics.publishPendingBytes.set(bytes),
    );
  }

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
    const committer = this.committers(topic.name);
    const { kind, capabilities } = committer.store;
    let bytes = 0;
    messages.forEach((m, index) => {
      if (m.priority) requireCapability(kind, capabilities, 'priorityLanes', topic.name);
      if (m.priority && !topic.priority) {
        throw new HeraldError(
          'INVALID_REQUEST',
          `message ${index} asks for priority, but topic ${topic.name} has no priority lane (spec.priority)`,
          { field: `messages[${index}].priority`, index: String(index) },
        );
      }
      m.tags.forEach((tag, t) => {
        if (!TAG_PATTERN.test(tag)) {
          throw new HeraldError(
            'INVALID_REQUEST',
            `message ${index} has tag ${JSON.stringify(tag)}: tags are 1-64 characters of [A-Za-z0-9._:-]`,
            { field: `messages[${index}].tags[${t}]`, index: String(index) },
          );
        }
      });
      const size = messageSize(m);
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
    if (input.schedules?.some((s) => s !== undefined)) {
      requireCapability(kind, capabilities, 'delayedMessages', topic.name);
    }
    const deliverAt = this.deliverAt(topic, input.schedules ?? [], messages.length, Date.now());
    const ref = this.route(input);
    if (!this.health.available) {
      throw new HeraldError('STORAGE_UNAVAILABLE', 'the message store is unavailable; nothing was stored', {
        cause: this.health.lastError?.message ?? '',
      });
    }
    if (topic.rateLimit) {
      const held = this.topics.ownedPartitions(topic.name).length;
      const share = this.rateLimits.admit(
        topic.name,
        topic.rateLimit,
        held,
        topic.partitions,
        messages.length,
        Date.now(),
      );
      this.metrics.rateLimitShare.set({ topic: topic.name }, share);
    }
    const writer = this.writers.get(partitionKey(ref))!;
    const key = input.route && 'key' in input.route ? input.route.key : undefined;
    const stored = key === undefined ? messages : messages.map((m) => (m.key === '' ? { ...m, key } : m));
    const receivedAt = Date.now();
    this.admit(topic.name, bytes, input.whenFull ?? 'refuse');
    const release = () => this.budget.release(bytes);
    if (deliverAt) {
      const items = stored.map((message, i) => ({ deliverAt: deliverAt[i], message }));
      return this.delays
        .schedule(ref, items)
        .then((delayed) => {
          const detail = publishDetail(input.peer, receivedAt);
          delayed.forEach((d, i) => this.tracer.record(scheduledEvent(ref, d, stored[i].refKey, detail)));
          return { ref, firstOffset: 0, count: messages.length, partitions: topic.partitions, delayed };
        })
        .finally(release);
    }
    return committer
      .publish(writer, stored, bytes)
      .then((firstOffset) => {
        const detail = publishDetail(input.peer, receivedAt);
        stored.forEach((m, i) => this.tracer.record(storedEvent(ref, firstOffset + i, m.refKey, detail)));
        return { ref, firstOffset, count: messages.length, partitions: topic.partitions };
      })
      .finally(release);
  }

  /** Takes the request's bytes from the budget, or refuses it (nothing stored) when they do not fit. */
  private admit(topic: string, bytes: number, whenFull: 'refuse' | 'take'): void {
    if (whenFull === 'take') return this.budget.take(bytes);
    if (this.budget.tryTake(bytes)) return;
    this.metrics.publishBudgetStops.inc({ method: 'Publish' });
    throw new HeraldError(
      'RATE_LIMITED',
      `this broker holds ${this.budget.bytes} bytes of publishes not yet stored and takes at most ` +
        `${this.budget.limit} (publish.maxPendingBytes); nothing of this request (${bytes} bytes) was stored, ` +
        `send it again after retry_after_ms`,
      {
        topic,
        retry_after_ms: String(BUDGET_RETRY_AFTER_MS),
        limit_bytes: String(this.budget.limit),
        field: 'publish.maxPendingBytes',
      },
    );
  }

  /**
   * Each message's due time when the request is delayed, undefined when it is deliverable at
   * once (no schedule, or a due time already past). A request is stored in one transaction,
   * so its messages are either all delayed or all immediate.
   */
  private deliverAt(
    topic: TopicOptions,
    schedules: Schedule[],
    count: number,
    now: number,
  ): number[] | undefined {
    let delayed = 0;
    const due = schedules.map((s, index) => {
      if (s === undefined) return now;
      const field = 'deliverAtMs' in s ? `messages[${index}].deliver_at_ms` : `messages[${index}].delay_ms`;
      if (!topic.delay) {
        throw new HeraldError(
          'INVALID_REQUEST',
          `${field}: topic ${topic.name} does not accept delayed messages (spec.delay is off)`,
          { field, topic: topic.name },
        );
      }
      const at = 'deliverAtMs' in s ? s.deliverAtMs : now + s.delayMs;
      if (at - now > this.delayLimits.maxHorizonMs) {
        throw new HeraldError(
          'INVALID_REQUEST',
          `${field}: at most ${this.delayLimits.maxHorizonMs} ms ahead (the broker's delay horizon)`,
          { field, limit: String(this.delayLimits.maxHorizonMs) },
        );
      }
      if (at > now) delayed++;
      return at;
    });
    if (delayed === 0) return undefined;
    if (delayed < count) {
      const index = Array.from({ length: count }, (_, i) => due[i] ?? now).findIndex((at) => at <= now);
      throw new HeraldError(
        'INVALID_REQUEST',
        `messages[${index}] is deliverable at once but others in the request are delayed; publish them in separate requests`,
        { field: `messages[${index}]` },
      );
    }
    return due;
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

// The topics this broker knows and the checks every call makes before touching a partition:
// a valid name, a known topic, a partition in range, and ownership.
import { HeraldError } from '../common/errors';
import { nameProblem } from '../common/names';
import type { TopicOptions } from '../common/broker-options';
import type { Ownership } from './ownership';
import type { PartitionRef } from '../storage/storage';

export class Topics {
  private readonly byName: Map<string, TopicOptions>;

  constructor(
    topics: TopicOptions[],
    private readonly ownership: Ownership,
  ) {
    this.byName = new Map(topics.map((t) => [t.name, t]));
  }

  /** Adds or updates a topic (lease mode learns its topics from the meta-server). */
  define(topic: TopicOptions): void {
    this.byName.set(topic.name, topic);
  }

  all(): TopicOptions[] {
    return [...this.byName.values()];
  }

  /** The topic, or INVALID_NAME / TOPIC_NOT_FOUND. */
  topic(name: string): TopicOptions {
    requireName('topic', name);
    const t = this.byName.get(name);
    if (!t) throw new HeraldError('TOPIC_NOT_FOUND', `topic ${name} does not exist`, { topic: name });
    return t;
  }

  /** A partition of a known topic that this broker owns, or the error that says why not. */
  ownedPartition(topic: string, partition: number): PartitionRef {
    const ref = requirePartition(this.topic(topic), partition);
    const owner = this.ownership.owner(ref);
    if (!owner.owned) {
      throw new HeraldError(
        'NOT_PARTITION_OWNER',
        `this broker does not own ${topic}/${partition}` + (owner.address ? `; ${owner.address} does` : ''),
        { topic, partition: String(partition), ...(owner.address ? { owner: owner.address } : {}) },
      );
    }
    return ref;
  }

  /** Whether this broker serves the partition now (no error: the cached path of a call). */
  owns(ref: PartitionRef): boolean {
    return this.ownership.owner(ref).owned;
  }

  /** The partitions of a topic this broker owns. */
  ownedPartitions(topic: string): PartitionRef[] {
    const t = this.topic(topic);
    return Array.from({ length: t.partitions }, (_, partition) => ({ topic, partition })).filter(
      (ref) => this.ownership.owner(ref).owned,
    );
  }
}

/** The partition of the topic, or PARTITION_OUT_OF_RANGE (naming the request's field, when given). */
export function requirePartition(topic: TopicOptions, partition: number, field?: string): PartitionRef {
  if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
    throw new HeraldError(
      'PARTITION_OUT_OF_RANGE',
      `partition ${partition} is out of range: topic ${topic.name} has ${topic.partitions} partitions`,
      {
        topic: topic.name,
        partition: String(partition),
        partitions: String(topic.partitions),
        ...(field ? { field } : {}),
      },
    );
  }
  return { topic: topic.name, partition };
}

export function requireName(field: string, name: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new HeraldError('INVALID_NAME', `${field} ${JSON.stringify(name)} ${problem}`, { field });
  }
}

export function partitionKey(ref: PartitionRef): string {
  return `${ref.topic}/${ref.partition}`;
}

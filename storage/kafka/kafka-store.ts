// The Kafka adapter of MessageStore, on kafkajs (docs/kafka-topics.md). Kafka allocates
// offsets, so it declares no owner fencing: a stale owner's late write is stored, not refused,
// and the partition's owner learns what is stored by following the partition (KafkaTail): its
// own appends are handed to the tail as Kafka acknowledges them, other producers' records come
// from fetches. Records and offsets are mapped in records.ts (Herald offset = Kafka offset + 1).
//
// Three kafkajs Clusters and an admin client, each with its own connections (Kafka answers one
// request per connection at a time):
// - the producer Cluster: Herald's own idempotent Produce requests (producer.ts, produce.ts:
//   each partition's record batch written into one buffer), acks from all in-sync replicas,
//   bounded in time; a fresh producer id after any failed or unknown-outcome send;
// - the tail Cluster: the owner's long polls (KafkaTail);
// - the reads Cluster: one-shot reads (a lagging group, a redelivery, a reset), offsets and
//   offset commits, so none of them waits behind a parked long poll. Concurrent one-shot reads
//   are merged into one fetch per Kafka leader (FetchBatcher), and what a fetch brings beyond
//   what its read asked for serves the partition's next read (ReadAhead);
// - an admin client, opened on first use, for creating and deleting topics.
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import type { Admin, LogEntry } from 'kafkajs';
import { HeraldError } from '../../common/errors';
import { DEFAULTS } from '../../common/broker-options';
import type { KafkaOptions } from '../../common/broker-options';
import type { Logger } from '../../common/logger';
import type { StorageCapabilities } from '../capabilities';
import { broadcastConsumerOf } from '../subscription';
import type {
  AppendBatch,
  AppendOutcome,
  MessageStore,
  OffsetCommit,
  PartitionRef,
  StoredMessage,
  TailSink,
} from '../storage';
import { unsupportedRequests } from './api-versions';
import {
  EARLIEST,
  FETCH_TOTAL_BYTES,
  LATEST,
  READ_COMMITTED,
  STALE_LEADER_RETRIES,
  deadline,
  isStaleMetadata,
  kafkaErrorType,
  openCluster,
  partitionKey,
  sleep,
  toHeraldError,
} from './cluster';
import type { HeraldCluster, KafkaBroker } from './cluster';
import { fetchPartitions } from './fetch';
import type { FetchedPartition } from './fetch';
import { FetchBatcher } from './fetch-batcher';
import { KafkaProducer } from './producer';
import type { FetchAnswer } from './fetch-batcher';
import { ReadAhead } from './read-ahead';
import type { AheadChunk } from './read-ahead';
import { encodeRecord, storedRecord, toHeraldOffset } from './records';
import { KafkaTail } from './tail';

/**
 * One-shot fetches outstanding per Kafka leader: Kafka answers them in turn on the one
 * connection, so a second one only overlaps decoding a response with Kafka's work on the next.
 */
const READ_FETCHES_IN_FLIGHT = 2;

/** A one-shot read of one partition waiting for its fetch. */
interface ReadWant {
  leader: string;
  key: string;
  ref: PartitionRef;
  /** The Herald offset to read from. */
  from: number;
}

export type KafkaStoreOptions = KafkaOptions & {
  /** Names this process in Kafka's logs and quotas. */
  clientId: string;
  logger: Logger;
};

/** What a Herald Topic sets on its Kafka topic (the operator keeps it in step). */
export interface KafkaTopicSettings {
  /** spec.retention.hours, as the topic's retention.ms. */
  retentionMs: number;
}

/**
 * The Kafka topic's max.message.bytes: Herald checks each message against the Topic's
 * maxMessageBytes itself; Kafka must take the largest record batch Herald sends, a whole
 * publish request (publish.maxRequestBytes) with each record's framing.
 */
export const KAFKA_MAX_BATCH_BYTES = DEFAULTS.publish.maxRequestBytes + 512 * 1024;

export type KafkaStore = MessageStore &
  Required<Pick<MessageStore, 'follow'>> & {
    /** Sets the Kafka topic's configuration (every key Herald manages, in one call). */
    configureTopic(topic: string, settings: KafkaTopicSettings): Promise<void>;
  };

export async function createKafkaStore(options: KafkaStoreOptions): Promise<KafkaStore> {
  const kafkaLog = options.logger.namespace('kafkajs');
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.bootstrapServers,
    connectionTimeout: options.connectTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    enforceRequestTimeout: true,
    // Bounded: a call fails within publishTimeoutMs while Kafka is down, never retries on.
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 300 },
    logLevel: logLevel.WARN,
    // kafkajs logs every refused connection while Kafka is down: detail for HERALD_DEBUG only.
    logCreator:
      () =>
      ({ namespace, log }: LogEntry) =>
        kafkaLog.debug(log.message, { namespace }),
  });
  const reads = openCluster(kafka);
  try {
    await reads.raw.connect();
    await checkApiVersions(reads, options.bootstrapServers);
  } catch (err) {
    await reads.raw.disconnect();
    throw toHeraldError(err, `connect to Kafka at ${options.bootstrapServers.join(',')}`);
  }
  const tail = new KafkaTail(openCluster(kafka), options, options.logger.namespace('tail'));
  return new KafkaMessageStore(kafka, reads, tail, options);
}

async function checkApiVersions(cluster: HeraldCluster, servers: string[]): Promise<void> {
  await cluster.raw.refreshMetadata();
  for (const nodeId of cluster.raw.getNodeIds()) {
    const problems = unsupportedRequests(await (await cluster.broker(String(nodeId))).apiVersions());
    if (problems.length > 0) {
      throw new HeraldError(
        'STORAGE_UNAVAILABLE',
        `Kafka broker ${nodeId} (bootstrap ${servers.join(',')}) does not accept the request versions kafkajs sends: ${problems.join('; ')}`,
        { kafkaBroker: String(nodeId) },
      );
    }
  }
}

class KafkaMessageStore implements KafkaStore {
  readonly kind = 'kafka';
  readonly capabilities: StorageCapabilities = {
    priorityLanes: false,
    delayedMessages: false,
    ownerFencing: false,
    atomicMultiPartitionAppend: false,
    segmentRetention: false,
    // Its traces live in the pool's MySQL, another store.
    traceInAppend: false,
    // Offsets are Kafka group offsets, committed apart from any produce.
    offsetsInAppend: false,
  };
  private readonly producer: KafkaProducer;
  private readonly writes: HeraldCluster;
  private admin: Promise<Admin> | undefined;
  /**
   * The committed offset last read or written per group and partition: commits only move
   * forward from it. A new owner reads it first (committedOffset), so a commit from another
   * broker is never overwritten with a lower offset.
   */
  private readonly committed = new Map<string, { offset: number; at: number }>();
  private readonly keepAlive: NodeJS.Timeout;
  private keepingAlive = false;
  private readonly logger: Logger;
  private readonly fetches: FetchBatcher<ReadWant, FetchedPartition>;
  private readonly ahead: ReadAhead;

  constructor(
    private readonly kafka: Kafka,
    private readonly reads: HeraldCluster,
    private readonly tail: KafkaTail,
    private readonly options: KafkaStoreOptions,
  ) {
    this.logger = options.logger;
    this.writes = openCluster(kafka);
    this.producer = new KafkaProducer(this.writes, {
      publishTimeoutMs: options.publishTimeoutMs,
      logger: options.logger.namespace('producer'),
    });
    this.fetches = new FetchBatcher((leader, wants) => this.fetchMerged(leader, wants), {
      maxInFlight: READ_FETCHES_IN_FLIGHT,
      // Room in the whole fetch for every partition's share: none comes back empty for want of it.
      maxPartitions: Math.max(1, Math.floor(FETCH_TOTAL_BYTES / options.fetchMaxBytes)),
    });
    this.ahead = new ReadAhead(options.readAheadBytes);
    this.keepAlive = setInterval(
      () => void this.keepOffsetsAlive(),
      Math.min(options.offsetKeepAliveMs, 3_600_000),
    );
    this.keepAlive.unref();
  }

  // --- topics -------------------------------------------------------------------------

  async ensureTopic(topic: string, partitions: number): Promise<void> {
    const admin = await this.adminClient();
    try {
      const created = await admin.createTopics({
        // A whole publish batch must fit (Kafka's broker default is about 1 MiB); the
        // operator's configureTopic sends the same value with the rest of the topic's keys.
        topics: [
          {
            topic,
            numPartitions: partitions,
            configEntries: [{ name: 'max.message.bytes', value: String(KAFKA_MAX_BATCH_BYTES) }],
          },
        ],
        waitForLeaders: true,
      });
      if (!created) {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const existing = meta.topics[0]?.partitions.length ?? 0;
        if (existing < partitions)
          await admin.createPartitions({ topicPartitions: [{ topic, count: partitions }] });
      }
    } catch (err) {
      throw toHeraldError(err, `create Kafka topic ${topic}`);
    }
    await this.reads.raw.refreshMetadata().catch(() => undefined);
  }

  async configureTopic(topic: string, settings: KafkaTopicSettings): Promise<void> {
    const admin = await this.adminClient();
    try {
      // AlterConfigs replaces the topic's whole configuration: always send every key Herald sets.
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: topic,
            configEntries: [
              { name: 'retention.ms', value: String(Math.round(settings.retentionMs)) },
              { name: 'max.message.bytes', value: String(KAFKA_MAX_BATCH_BYTES) },
            ],
          },
        ],
      });
    } catch (err) {
      throw toHeraldError(err, `configure Kafka topic ${topic}`);
    }
  }

  async dropTopic(topic: string): Promise<void> {
    const admin = await this.adminClient();
    try {
      if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic] });
    } catch (err) {
      throw toHeraldError(err, `delete Kafka topic ${topic}`);
    }
    // Kafka deletes the topic's committed offsets with it.
    for (const key of [...this.committed.keys()])
      if (key.split('\u0000')[1] === topic) this.committed.delete(key);
    this.ahead.dropWhere((key) => key.split('\u0000')[0] === topic);
  }

  // --- writes -------------------------------------------------------------------------

  async append(batches: AppendBatch[], publishedAt: number): Promise<AppendOutcome[]> {
    if (batches.length === 0) return [];
    const outcomes = await this.producer.send(
      batches.map((b) => ({ ref: b.ref, records: b.messages.map((m) => encodeRecord(m, publishedAt)) })),
    );
    return Promise.all(
      outcomes.map(async (o, i): Promise<AppendOutcome> => {
        if (!o.ok) return o;
        const first = toHeraldOffset(o.baseOffset);
        const { ref, messages } = batches[i];
        await this.handOver(
          ref,
          first,
          messages.map((m, j) => storedRecord(m, first + j, publishedAt)),
        );
        return { ok: true, firstOffset: first };
      }),
    );
  }

  /**
   * Gives the owner's tail the records just stored from `first` on, so that it need not fetch
   * them back; when another producer wrote before them, what it wrote is read first. They are
   * stored whatever happens here: a failed read leaves them to the tail's long polls.
   */
  private async handOver(ref: PartitionRef, first: number, messages: StoredMessage[]): Promise<void> {
    const last = first + messages.length - 1;
    const missing = this.tail.stored(ref, first, last, messages);
    if (missing === undefined) return;
    try {
      const between = (await this.read(ref, missing - 1, first - missing)).filter((m) => m.offset < first);
      this.tail.stored(ref, missing, first - 1, between);
      this.tail.stored(ref, first, last, messages);
    } catch (err) {
      this.logger.warn('could not read what another producer wrote; the long polls will', {
        ...ref,
        from: missing,
        err,
      });
    }
  }

  // --- reads --------------------------------------------------------------------------

  async lastOffset(ref: PartitionRef): Promise<number> {
    return toHeraldOffset(await this.listOffset(ref, LATEST)) - 1;
  }

  async firstOffset(ref: PartitionRef): Promise<number | undefined> {
    const [start, end] = [await this.listOffset(ref, EARLIEST), await this.listOffset(ref, LATEST)];
    return Number(start) < Number(end) ? toHeraldOffset(start) : undefined;
  }

  async offsetAtTime(ref: PartitionRef, at: number): Promise<number | undefined> {
    const offset = await this.listOffset(ref, Math.max(0, at));
    return Number(offset) < 0 ? undefined : toHeraldOffset(offset);
  }

  /** Up to `limit` records after `afterOffset`; a position below the log start reads from the start. */
  async read(ref: PartitionRef, afterOffset: number, limit: number): Promise<StoredMessage[]> {
    const key = partitionKey(ref);
    const out: StoredMessage[] = [];
    let next = afterOffset + 1;
    while (out.length < limit) {
      const chunk = this.ahead.take(key, next) ?? (await this.fetchOne(ref, next));
      const taken = chunk.messages.slice(0, limit - out.length);
      out.push(...taken);
      if (taken.length < chunk.messages.length) {
        // The rest serves the next read, which starts after the last message taken.
        this.ahead.keep(key, taken[taken.length - 1].offset + 1, {
          ...chunk,
          messages: chunk.messages.slice(taken.length),
        });
        break;
      }
      // Control records only (a foreign producer's transaction markers): read on past them.
      if (chunk.coveredTo < next || chunk.coveredTo >= chunk.end) break;
      next = chunk.coveredTo + 1;
    }
    return out;
  }

  async readOffsets(ref: PartitionRef, offsets: number[]): Promise<StoredMessage[]> {
    const wanted = [...new Set(offsets)].sort((a, b) => a - b);
    const found = new Map<number, StoredMessage>();
    let i = 0;
    while (i < wanted.length) {
      const from = wanted[i];
      const { messages, coveredTo, end } = await this.fetchOne(ref, from);
      for (const m of messages) found.set(m.offset, m);
      // Every offset up to what the fetch covered is found or gone (retention, a control record).
      const covered = coveredTo >= from ? coveredTo : end;
      while (i < wanted.length && wanted[i] <= covered) i++;
      if (coveredTo < from) break;
    }
    return wanted.flatMap((o) => found.get(o) ?? []);
  }

  /**
   * One fetch of one partition, without waiting: the messages from `offset` on (from the first
   * retained one when `offset` is below the log start), the last offset the fetch covered and
   * the partition's end offset.
   */
  private async fetchOne(ref: PartitionRef, offset: number): Promise<AheadChunk> {
    const fetch = async (leader: string, from: number) => {
      const p = await this.fetches.request({ leader, key: partitionKey(ref), ref, from });
      return { messages: p.messages, coveredTo: p.coveredTo, end: p.end };
    };
    return this.onLeader(ref, 'read from Kafka', async (_broker, leader) => {
      try {
        return await fetch(leader, offset);
      } catch (err) {
        if (kafkaErrorType(err) !== 'OFFSET_OUT_OF_RANGE') throw err;
        // Behind the log start (retention): go on at the first retained offset. Past the end: nothing.
        const start = toHeraldOffset(await this.listOffset(ref, EARLIEST));
        const end = toHeraldOffset(await this.listOffset(ref, LATEST)) - 1;
        return offset > end ? { messages: [], coveredTo: offset - 1, end } : await fetch(leader, start);
      }
    });
  }

  /**
   * One fetch of the wants' partitions from `leader` (FetchBatcher's send). Kafka fails a
   * fetch as a whole on one partition's error, and fills partitions in order up to the fetch's
   * byte limit: after a failure, or for a partition that came back empty though records lie
   * ahead, a merged fetch is sent again partition by partition, so each read meets its own
   * error or records.
   */
  private async fetchMerged(leader: string, wants: ReadWant[]): Promise<FetchAnswer<FetchedPartition>[]> {
    const broker = await this.reads.broker(leader);
    const fetch = async (list: ReadWant[]) => {
      const res = await fetchPartitions(broker, list, 0, this.options.fetchMaxBytes);
      return list.map((w) => partitionOf(res, w.ref));
    };
    const alone = (w: ReadWant): Promise<FetchAnswer<FetchedPartition>> =>
      fetch([w]).then(
        ([value]) => ({ ok: true, value }),
        (error: unknown) => ({ ok: false, error }),
      );
    if (wants.length === 1) return [{ ok: true, value: (await fetch(wants))[0] }];
    let found: FetchedPartition[];
    try {
      found = await fetch(wants);
    } catch {
      return Promise.all(wants.map(alone));
    }
    return Promise.all(
      wants.map((w, i) =>
        found[i].coveredTo < w.from && w.from <= found[i].end
          ? alone(w)
          : Promise.resolve({ ok: true as const, value: found[i] }),
      ),
    );
  }

  private async listOffset(ref: PartitionRef, timestamp: number): Promise<string> {
    return this.onLeader(ref, 'list Kafka offsets', async (broker) => {
      const res = await broker.listOffsets({
        isolationLevel: READ_COMMITTED,
        topics: [{ topic: ref.topic, partitions: [{ partition: ref.partition, timestamp }] }],
      });
      const p = res.responses
        .find((t) => t.topic === ref.topic)
        ?.partitions.find((x) => x.partition === ref.partition);
      if (!p)
        throw new HeraldError(
          'STORAGE_UNAVAILABLE',
          `Kafka listed no offset for ${ref.topic}/${ref.partition}`,
        );
      return p.offset;
    });
  }

  /** Runs `work` on the partition's leader; after stale metadata, again on the (new) leader. */
  private async onLeader<T>(
    ref: PartitionRef,
    what: string,
    work: (broker: KafkaBroker, nodeId: string) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.reads.raw.addTargetTopic(ref.topic);
        const leaders = this.reads.raw.findLeaderForPartitions(ref.topic, [ref.partition]);
        const nodeId = Object.keys(leaders)[0];
        if (nodeId === undefined) {
          if (attempt === 0) {
            await this.reads.raw.refreshMetadata();
            continue;
          }
          throw new HeraldError(
            'PARTITION_OUT_OF_RANGE',
            `Kafka has no partition ${ref.partition} of topic ${ref.topic}`,
            {
              topic: ref.topic,
              partition: String(ref.partition),
            },
          );
        }
        return await work(await this.reads.broker(nodeId), nodeId);
      } catch (err) {
        // Stale metadata, or a leader that has not taken over yet (just after a topic was
        // created, or a leader change): read the metadata again and retry, briefly.
        if (attempt < STALE_LEADER_RETRIES && isStaleMetadata(err)) {
          if (attempt > 0) await sleep(50 * 2 ** attempt);
          await this.reads.raw.refreshMetadata().catch(() => undefined);
          continue;
        }
        if (kafkaErrorType(err) === 'UNKNOWN_TOPIC_OR_PARTITION') {
          throw new HeraldError(
            'TOPIC_NOT_FOUND',
            `Kafka has no topic ${ref.topic} (or no partition ${ref.partition})`,
            {
              topic: ref.topic,
            },
          );
        }
        throw toHeraldError(err, what);
      }
    }
  }

  follow(ref: PartitionRef, afterOffset: number, sink: TailSink): () => void {
    return this.tail.follow(ref, afterOffset, sink);
  }

  // --- committed offsets: the group's own Kafka offsets ---------------------------------

  async committedOffset(group: string, ref: PartitionRef): Promise<number> {
    return (await this.findCommittedOffset(group, ref)) ?? 0;
  }

  async findCommittedOffset(group: string, ref: PartitionRef): Promise<number | undefined> {
    const [offset] = await this.fetchStored(group, [ref]);
    this.committed.set(offsetKey(group, ref), { offset: offset ?? NONE, at: Date.now() });
    return offset;
  }

  /** Each broadcast consumer's key is a Kafka group of its own: those with offsets on the topic. */
  async broadcastConsumers(group: string, topic: string): Promise<string[]> {
    const admin = await this.adminClient();
    try {
      const { groups } = await admin.listGroups();
      const found: string[] = [];
      for (const g of groups) {
        const consumer = broadcastConsumerOf(group, g.groupId);
        if (consumer === undefined) continue;
        const [offsets] = await admin.fetchOffsets({ groupId: g.groupId, topics: [topic] });
        if (offsets?.partitions.some((p) => Number(p.offset) >= 0)) found.push(consumer);
      }
      return found;
    } catch (err) {
      throw toHeraldError(err, `list the broadcast consumers of ${group}`);
    }
  }

  /** Deletes the key's Kafka group (a broadcast consumer's reads one topic only). */
  async dropOffsets(group: string, topic: string): Promise<void> {
    const admin = await this.adminClient();
    try {
      await admin.deleteGroups([group]);
    } catch (err) {
      const failures = (err as { groups?: { errorCode?: number; error?: { type?: string } }[] }).groups;
      const onlyMissing =
        failures !== undefined &&
        failures.every((f) => !f.errorCode || f.error?.type === 'GROUP_ID_NOT_FOUND');
      if (!onlyMissing) throw toHeraldError(err, `delete Kafka group ${group}`);
    }
    for (const key of [...this.committed.keys()])
      if (key.startsWith(`${group}\u0000${topic}\u0000`)) this.committed.delete(key);
  }

  async commitOffsets(commits: OffsetCommit[]): Promise<void> {
    const byGroup = new Map<string, OffsetCommit[]>();
    for (const c of commits) byGroup.set(c.group, [...(byGroup.get(c.group) ?? []), c]);
    await Promise.all(
      [...byGroup].map(async ([group, list]) => {
        const unknown = list.filter((c) => !this.committed.has(offsetKey(group, c.ref)));
        if (unknown.length > 0) {
          const known = await this.fetchStored(
            group,
            unknown.map((c) => c.ref),
          );
          unknown.forEach((c, i) =>
            this.committed.set(offsetKey(group, c.ref), { offset: known[i] ?? NONE, at: 0 }),
          );
        }
        const forward = list.filter((c) => c.offset > this.committed.get(offsetKey(group, c.ref))!.offset);
        await this.writeCommitted(group, forward);
      }),
    );
  }

  commitOffset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    return this.commitOffsets([{ group, ref, offset }]);
  }

  forceCommittedOffset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    return this.writeCommitted(group, [{ group, ref, offset }]);
  }

  /**
   * Writes offsets as the group's Kafka offsets (generation -1, no member: accepted while the
   * group has no Kafka members). The Herald committed offset c is Kafka's "next to read" c.
   */
  private async writeCommitted(group: string, commits: OffsetCommit[]): Promise<void> {
    if (commits.length === 0) return;
    const byTopic = new Map<string, { partition: number; offset: string }[]>();
    for (const c of commits)
      byTopic.set(c.ref.topic, [
        ...(byTopic.get(c.ref.topic) ?? []),
        { partition: c.ref.partition, offset: String(c.offset) },
      ]);
    await this.onCoordinator(group, 'commit offsets to Kafka', (broker) =>
      broker.offsetCommit({
        groupId: group,
        groupGenerationId: -1,
        memberId: '',
        topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
      }),
    );
    const at = Date.now();
    for (const c of commits) this.committed.set(offsetKey(group, c.ref), { offset: c.offset, at });
  }

  /** The group's Kafka offsets of the partitions; undefined where it has none. */
  private async fetchStored(group: string, refs: PartitionRef[]): Promise<(number | undefined)[]> {
    const topics = [...new Set(refs.map((r) => r.topic))];
    const res = await this.onCoordinator(group, 'read offsets from Kafka', (broker) =>
      broker.offsetFetch({
        groupId: group,
        topics: topics.map((topic) => ({
          topic,
          partitions: refs.filter((r) => r.topic === topic).map((r) => ({ partition: r.partition })),
        })),
      }),
    );
    return refs.map((r) => {
      const offset = res.responses
        .find((t) => t.topic === r.topic)
        ?.partitions.find((p) => p.partition === r.partition)?.offset;
      return offset === undefined || Number(offset) < 0 ? undefined : Number(offset);
    });
  }

  private async onCoordinator<T>(
    group: string,
    what: string,
    work: (broker: KafkaBroker) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work(await this.reads.coordinator(group));
      } catch (err) {
        const type = kafkaErrorType(err);
        if (attempt < 3 && isStaleMetadata(err)) {
          await sleep(100 * (attempt + 1));
          continue;
        }
        if (
          type === 'UNKNOWN_MEMBER_ID' ||
          type === 'ILLEGAL_GENERATION' ||
          type === 'REBALANCE_IN_PROGRESS'
        ) {
          throw new HeraldError(
            'INVALID_REQUEST',
            `Kafka group ${group} has Kafka consumers (${type}): Herald stores a group's offsets in Kafka only while no Kafka consumer uses the group id; rename the Kafka consumer's group`,
            { group, kafkaError: type },
            { cause: err },
          );
        }
        throw toHeraldError(err, what);
      }
    }
  }

  /** Commits again what this store committed and Kafka still holds, once it is old enough. */
  private async keepOffsetsAlive(): Promise<void> {
    if (this.keepingAlive) return;
    this.keepingAlive = true;
    try {
      const before = Date.now() - this.options.offsetKeepAliveMs;
      const old = [...this.committed].filter(([, v]) => v.at > 0 && v.at < before);
      for (const [key, v] of old) {
        const [group, topic, partition] = key.split('\u0000');
        const ref = { topic, partition: Number(partition) };
        // Only when nobody moved it meanwhile (another owner): never write an older offset back.
        // Nor one deleted meanwhile (a broadcast consumer's group, after it left).
        const [now] = await this.fetchStored(group, [ref]);
        if (now === undefined) this.committed.delete(key);
        else if (now === v.offset) await this.writeCommitted(group, [{ group, ref, offset: v.offset }]);
        else this.committed.set(key, { offset: now, at: 0 });
      }
    } catch (err) {
      this.logger.warn('could not refresh idle committed offsets', { err });
    } finally {
      this.keepingAlive = false;
    }
  }

  // --- lifecycle ------------------------------------------------------------------------

  maintainSegments(): Promise<{ from: number; to: number }[]> {
    // segmentRetention is false: Kafka's retention.ms drops old records.
    return Promise.resolve([]);
  }

  async ping(): Promise<void> {
    try {
      await deadline(this.reads.raw.refreshMetadata(), this.options.requestTimeoutMs, 'Kafka did not answer');
    } catch (err) {
      throw toHeraldError(err, 'ping Kafka');
    }
  }

  private adminClient(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      const connected = admin.connect().then(() => admin);
      connected.catch(() => (this.admin = undefined));
      this.admin = connected;
    }
    return this.admin.catch((err: unknown) => {
      throw toHeraldError(err, 'connect the Kafka admin client');
    });
  }

  async close(): Promise<void> {
    clearInterval(this.keepAlive);
    await this.tail.close();
    const admin = this.admin;
    this.admin = undefined;
    this.producer.close();
    await Promise.allSettled([
      this.writes.raw.disconnect(),
      admin?.then((a) => a.disconnect()),
      this.reads.raw.disconnect(),
    ]);
  }
}

/** In the committed cache: the group has no Kafka offset there, so a commit of 0 is forward. */
const NONE = -1;

function offsetKey(group: string, ref: PartitionRef): string {
  return `${group}\u0000${partitionKey(ref)}`;
}

function partitionOf(res: FetchedPartition[], ref: PartitionRef): FetchedPartition {
  const p = res.find((x) => x.topic === ref.topic && x.partition === ref.partition);
  if (!p)
    throw new HeraldError('STORAGE_UNAVAILABLE', `Kafka returned nothing for ${ref.topic}/${ref.partition}`);
  return p;
}

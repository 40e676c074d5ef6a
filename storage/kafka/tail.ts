// The owner's view of what is stored in its Kafka partitions. Kafka allocates offsets and
// anyone may write (another Herald broker that still believes it owns the partition, a Kafka
// producer), so the owner follows each owned partition with long polls, one loop per Kafka
// leader, each fetch holding every followed partition of that leader, and hands every record
// to the partition's sink in offset order. A fetch returns as soon as a record is stored, so
// waiting Pulls wake about as fast as after a MySQL commit. The loops use their own Cluster:
// one-shot reads never queue behind a parked fetch.
//
// The owner's own writes are not read back: the store hands each acknowledged batch over
// (`stored`), and while this broker keeps writing to a partition (it wrote within the last
// QUIET_WAITS long-poll waits) the partition stays out of the long polls. Another producer's
// records are then found by the next own write, whose offset leaves a gap the store reads
// (`stored` says where it starts), or by the long polls once the partition is quiet.
import { backoffDelay } from '../../common/backoff';
import type { BackoffOptions } from '../../common/backoff';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { PartitionRef, StoredMessage, TailSink } from '../storage';
import {
  EARLIEST,
  LATEST,
  READ_COMMITTED,
  isStaleMetadata,
  kafkaErrorType,
  partitionKey,
  sleep,
} from './cluster';
import type { HeraldCluster } from './cluster';
import { fetchPartitions } from './fetch';
import { toHeraldOffset } from './records';

interface Followed {
  ref: PartitionRef;
  /** The next Herald offset to hand over. */
  next: number;
  sink: TailSink;
  /** When this broker last stored records here itself (performance.now()). */
  ownWriteAt: number;
}

export interface TailOptions {
  tailWaitMs: number;
  fetchMaxBytes: number;
}

/** Between a loop's failed polls, and between failed looks for the leaders: 200 ms doubling to 2 s. */
const ERROR_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 2000, multiplier: 2 };
/** A partition this broker wrote to within this many long-poll waits stays out of the polls. */
const QUIET_WAITS = 2;

export class KafkaTail {
  private readonly followed = new Map<string, Followed>();
  /** Running loops by Kafka leader node id. */
  private readonly loops = new Map<string, Promise<void>>();
  private closed = false;
  private connected: Promise<void> | undefined;
  /** Looks for the leaders that failed in a row (start's backoff). */
  private startFailures = 0;

  constructor(
    private readonly cluster: HeraldCluster,
    private readonly options: TailOptions,
    private readonly logger: Logger,
  ) {}

  /** Hands `sink` every record stored after `afterOffset`, until the returned function is called. */
  follow(ref: PartitionRef, afterOffset: number, sink: TailSink): () => void {
    const key = partitionKey(ref);
    const entry: Followed = { ref, next: afterOffset + 1, sink, ownWriteAt: -Infinity };
    this.followed.set(key, entry);
    this.start();
    return () => {
      if (this.followed.get(key) === entry) this.followed.delete(key);
    };
  }

  /**
   * This broker stored records `from`..`to` (Herald offsets; `messages` are those that are not
   * control records, in order). Hands the ones the sink has not had to it, unless records
   * before `from` are missing: then returns the first missing offset, for the caller to read
   * them and call again with them first. Undefined: nothing is missing (or not followed).
   */
  stored(ref: PartitionRef, from: number, to: number, messages: StoredMessage[]): number | undefined {
    const f = this.followed.get(partitionKey(ref));
    if (!f) return undefined;
    if (f.next < from) {
      // Back into the long polls until the caller's read fills the gap (or they do).
      f.ownWriteAt = -Infinity;
      return f.next;
    }
    f.ownWriteAt = performance.now();
    if (f.next > to) return undefined;
    const fresh = messages.filter((m) => m.offset >= f.next);
    f.next = to + 1;
    if (fresh.length > 0) f.sink.appended(fresh);
    return undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.followed.clear();
    await Promise.allSettled(this.loops.values());
    await this.cluster.raw.disconnect();
  }

  /** Starts a loop for every leader that has followed partitions and none running. */
  private start(): void {
    if (this.closed) return;
    void this.leaders().then(
      (byLeader) => {
        this.startFailures = 0;
        for (const nodeId of byLeader.keys()) {
          if (this.loops.has(nodeId)) continue;
          const loop = this.run(nodeId).finally(() => {
            this.loops.delete(nodeId);
            // Partitions may have moved to a leader whose loop had ended: look again.
            if (!this.closed && this.followed.size > 0)
              setTimeout(() => this.start(), ERROR_BACKOFF.initialMs).unref();
          });
          this.loops.set(nodeId, loop);
        }
      },
      (err: unknown) => {
        const retryInMs = backoffDelay(++this.startFailures, ERROR_BACKOFF);
        this.logger.warn('could not find the leaders of followed Kafka partitions', { err, retryInMs });
        setTimeout(() => this.start(), retryInMs).unref();
      },
    );
  }

  /** Followed partitions by their leader's node id. */
  private async leaders(): Promise<Map<string, Followed[]>> {
    this.connected ??= this.cluster.raw.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    await this.connected;
    const out = new Map<string, Followed[]>();
    const topics = [...new Set([...this.followed.values()].map((f) => f.ref.topic))];
    for (const topic of topics) await this.cluster.raw.addTargetTopic(topic);
    for (const f of this.followed.values()) {
      const leader = Object.keys(this.cluster.raw.findLeaderForPartitions(f.ref.topic, [f.ref.partition]))[0];
      if (leader === undefined) {
        // A partition added since the metadata was read: read it again next time.
        await this.cluster.raw.refreshMetadata();
        continue;
      }
      out.set(leader, [...(out.get(leader) ?? []), f]);
    }
    return out;
  }

  /**
   * Long polls one leader for its followed partitions until it leads none of them; partitions
   * this broker is writing to wait until they are quiet. Never rejects: a failure (Kafka away,
   * a new topic's metadata not to be had) is retried with backoff until the tail closes.
   */
  private async run(nodeId: string): Promise<void> {
    const quietMs = QUIET_WAITS * this.options.tailWaitMs;
    let failures = 0;
    while (!this.closed) {
      try {
        const mine = (await this.leaders()).get(nodeId) ?? [];
        if (mine.length === 0) return;
        const now = performance.now();
        const quiet = mine.filter((f) => now - f.ownWriteAt >= quietMs);
        if (quiet.length === 0) {
          await sleep(Math.min(...mine.map((f) => f.ownWriteAt + quietMs - now)));
          continue;
        }
        await this.poll(nodeId, quiet);
        failures = 0;
      } catch (err) {
        if (isStaleMetadata(err)) {
          await this.cluster.raw.refreshMetadata().catch(() => undefined);
          return;
        }
        const retryInMs = backoffDelay(++failures, ERROR_BACKOFF);
        this.logger.warn('Kafka long poll failed', {
          nodeId,
          kafkaError: kafkaErrorType(err),
          err,
          retryInMs,
        });
        await sleep(retryInMs);
      }
    }
  }

  private async poll(nodeId: string, partitions: Followed[]): Promise<void> {
    const broker = await this.cluster.broker(nodeId);
    const byTopic = new Map<string, Followed[]>();
    for (const f of partitions) byTopic.set(f.ref.topic, [...(byTopic.get(f.ref.topic) ?? []), f]);
    let res;
    try {
      res = await fetchPartitions(
        broker,
        partitions.map((f) => ({ ref: f.ref, from: f.next })),
        this.options.tailWaitMs,
        this.options.fetchMaxBytes,
      );
    } catch (err) {
      // A fetch fails as a whole; out of range names the partition (retention overtook it, or
      // the log was truncated after an unclean leader change).
      if (kafkaErrorType(err) !== 'OFFSET_OUT_OF_RANGE') throw err;
      const { topic, partition } = err as { topic?: string; partition?: number };
      const f = partitions.find((p) => p.ref.topic === topic && p.ref.partition === partition);
      if (!f) throw err;
      await this.realign(broker, f);
      return;
    }
    for (const p of res) {
      const f = byTopic.get(p.topic)?.find((x) => x.ref.partition === p.partition);
      // Unfollowed (or followed anew) while the fetch was parked: not this entry's records.
      if (!f || this.followed.get(partitionKey(f.ref)) !== f) continue;
      // Decoded from the position the fetch asked for; f.next may have moved on since (the
      // owner's own appends handed over while the fetch was parked).
      if (p.coveredTo < f.next) continue;
      const messages =
        p.messages.length > 0 && p.messages[0].offset < f.next
          ? p.messages.filter((m) => m.offset >= f.next)
          : p.messages;
      f.next = p.coveredTo + 1;
      if (messages.length > 0) f.sink.appended(messages);
    }
  }

  /** After OFFSET_OUT_OF_RANGE: behind the log start, go on from it; past the end, truncated. */
  private async realign(broker: Awaited<ReturnType<HeraldCluster['broker']>>, f: Followed): Promise<void> {
    const list = async (timestamp: number) => {
      const res = await broker.listOffsets({
        isolationLevel: READ_COMMITTED,
        topics: [{ topic: f.ref.topic, partitions: [{ partition: f.ref.partition, timestamp }] }],
      });
      const offset = res.responses[0]?.partitions[0]?.offset;
      if (offset === undefined) throw new HeraldError('STORAGE_UNAVAILABLE', 'Kafka listed no offset');
      return toHeraldOffset(offset);
    };
    const start = await list(EARLIEST);
    const end = await list(LATEST);
    if (f.next < start) {
      this.logger.warn('retention overtook a followed Kafka partition', {
        ...f.ref,
        from: f.next,
        to: start,
      });
      f.next = start;
    } else if (f.next > end) {
      this.logger.warn('a followed Kafka partition was truncated', { ...f.ref, from: f.next, to: end });
      f.next = end;
      f.sink.truncated(end - 1);
    }
  }
}

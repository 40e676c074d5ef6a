// Herald's idempotent Kafka producer: its own Produce requests (produce.ts) on kafkajs' own
// connections (a Cluster of its own, so produces never wait behind reads or long polls).
//
// Idempotence, as Kafka's protocol has it: a producer id and epoch from InitProducerId, and a
// sequence number per partition that goes up by one a record. Kafka drops a batch whose
// sequence it has seen already and answers with the first one's offset, so a sequence must
// never be sent twice under one producer id: after any send that failed or whose outcome is
// unknown (an error, a timeout, a dropped connection) the session is dropped, and the next send
// starts a fresh one (new producer id, sequences from 0). The publish that failed is reported
// as outcome unknown, never retried on its own.
//
// One produce request in flight per Kafka leader (as kafkajs' idempotent producer does): a
// leader's batches are sent in the order their sequence numbers were given.
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { PartitionRef } from '../storage';
import {
  STALE_LEADER_RETRIES,
  deadline,
  isStaleMetadata,
  kafkaErrorName,
  partitionKey,
  sleep,
  toHeraldError,
} from './cluster';
import type { HeraldCluster, KafkaBroker } from './cluster';
import { PRODUCE_API_KEY, PRODUCE_VERSION, decodeProduceResponse, encodeProduceRequest } from './produce';
import type { PartitionResult, ProducerIdentity } from './produce';
import type { OutgoingRecord } from './records';

/** Answers after which nothing was stored and the leader may have moved: sent again. */
const NOT_STORED_STALE_LEADER = new Set([3, 5, 6]);
/** Answers that refuse the batch for its size: nothing stored, nothing to retry. */
const TOO_LARGE = new Set([10, 18]);

/** Sequence numbers are int32 and wrap to 0 after the largest (as Kafka expects). */
const SEQUENCE_SPAN = 2 ** 31;

export interface ProduceBatch {
  ref: PartitionRef;
  records: OutgoingRecord[];
}

/** What became of one batch: stored from Kafka offset baseOffset on, or not (error says why). */
export type ProduceOutcome = { ok: true; baseOffset: bigint } | { ok: false; error: HeraldError };

interface Session {
  identity: ProducerIdentity;
  /** The next sequence number per partition. */
  next: Map<string, number>;
  /** The Kafka offset of the last record acknowledged per partition under this producer id. */
  last: Map<string, bigint>;
}

/** One round's failure of a batch; `again` when nothing was stored and a retry may succeed. */
type Attempt = ProduceOutcome | { ok: false; error: HeraldError; again: true };

export interface ProducerOptions {
  /** An append ends within this (publish.timeoutMs of the store), sent or failed. */
  publishTimeoutMs: number;
  logger: Logger;
}

export class KafkaProducer {
  private session: Promise<Session> | undefined;
  /** The session once it has started: dropped at once (not a microtask later) after a failure. */
  private started: Session | undefined;
  /** The tail of each leader's queue of sends. */
  private readonly turns = new Map<string, Promise<void>>();
  private closed = false;
  private connected: Promise<void> | undefined;

  constructor(
    private readonly cluster: HeraldCluster,
    private readonly options: ProducerOptions,
  ) {}

  /** Sends each batch (one request per Kafka leader) with acks from all in-sync replicas. */
  async send(batches: ProduceBatch[]): Promise<ProduceOutcome[]> {
    const until = performance.now() + this.options.publishTimeoutMs;
    const outcomes: Attempt[] = await this.round(batches, until);
    // Nothing of these was stored and the leader may have moved (or not have taken over yet, as
    // just after partitions were added): again on fresh metadata, backing off, while time is left.
    for (let attempt = 1; attempt <= STALE_LEADER_RETRIES; attempt++) {
      const again = outcomes.flatMap((o, i) => ('again' in o ? [i] : []));
      const pause = 50 * 2 ** attempt;
      if (again.length === 0 || performance.now() + pause >= until) break;
      await sleep(pause);
      await this.cluster.raw.refreshMetadata().catch(() => undefined);
      const retried = await this.round(
        again.map((i) => batches[i]),
        until,
      );
      again.forEach((i, j) => (outcomes[i] = retried[j]));
    }
    return outcomes.map((o) => ('again' in o ? { ok: false, error: o.error } : o));
  }

  private async round(batches: ProduceBatch[], until: number): Promise<Attempt[]> {
    const outcomes: Attempt[] = new Array<Attempt>(batches.length);
    let byLeader: Map<string, number[]>;
    try {
      byLeader = await within(
        until,
        this.connect().then(() => this.leaders(batches)),
        'Kafka did not give its partition leaders in time',
      );
    } catch (err) {
      const error = notSent(err, 'find the Kafka leaders of the partitions');
      return batches.map(() => ({ ok: false, error }));
    }
    for (const [leader, indexes] of byLeader) {
      if (leader === '') {
        for (const i of indexes)
          outcomes[i] = {
            ok: false,
            error: new HeraldError(
              'PARTITION_OUT_OF_RANGE',
              `Kafka has no partition ${batches[i].ref.partition} of topic ${batches[i].ref.topic}; nothing was stored`,
              { topic: batches[i].ref.topic, partition: String(batches[i].ref.partition) },
            ),
          };
      }
    }
    await Promise.all(
      [...byLeader]
        .filter(([leader]) => leader !== '')
        .map(async ([leader, indexes]) => {
          const mine = indexes.map((i) => batches[i]);
          const results = await this.inTurn(leader, until, mine.length, () =>
            this.produce(leader, mine, until),
          );
          indexes.forEach((i, j) => (outcomes[i] = results[j]));
        }),
    );
    return outcomes;
  }

  /** Connects the Cluster on first use (again after a failed attempt). */
  private connect(): Promise<void> {
    this.connected ??= this.cluster.raw.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    return this.connected;
  }

  /** Each batch's leader node id ('' for a partition Kafka's metadata does not have). */
  private async leaders(batches: ProduceBatch[]): Promise<Map<string, number[]>> {
    const raw = this.cluster.raw;
    const find = async () => {
      for (const topic of new Set(batches.map((b) => b.ref.topic))) await raw.addTargetTopic(topic);
      const leaderOf = new Map<string, string>();
      for (const topic of new Set(batches.map((b) => b.ref.topic))) {
        const partitions = batches.filter((b) => b.ref.topic === topic).map((b) => b.ref.partition);
        for (const [nodeId, owned] of Object.entries(raw.findLeaderForPartitions(topic, partitions)))
          for (const p of owned) leaderOf.set(partitionKey({ topic, partition: p }), nodeId);
      }
      return batches.map((b) => leaderOf.get(partitionKey(b.ref)) ?? '');
    };
    let found = await find();
    // A partition added after the metadata was read: read it again once.
    if (found.includes('')) {
      await raw.refreshMetadata();
      found = await find();
    }
    const byLeader = new Map<string, number[]>();
    found.forEach((leader, i) => byLeader.set(leader, [...(byLeader.get(leader) ?? []), i]));
    return byLeader;
  }

  /** Runs `work` after the leader's previous send; gives up waiting (sending nothing) at `until`. */
  private async inTurn(
    leader: string,
    until: number,
    count: number,
    work: () => Promise<Attempt[]>,
  ): Promise<Attempt[]> {
    const before = this.turns.get(leader) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const turn = before.then(() => mine);
    this.turns.set(leader, turn);
    try {
      await within(until, before, 'the previous publish to this Kafka leader did not end in time');
    } catch (err) {
      // Our turn never came: the queue goes on once the one before ends, without us.
      done();
      const error = notSent(err, 'publish to Kafka');
      return Array.from({ length: count }, () => ({ ok: false, error }));
    }
    try {
      return await work();
    } finally {
      done();
      if (this.turns.get(leader) === turn) this.turns.delete(leader);
    }
  }

  /** One Produce request to `leader` for its batches, under the current session. */
  private async produce(leader: string, batches: ProduceBatch[], until: number): Promise<Attempt[]> {
    let session: Session;
    let broker: KafkaBroker;
    try {
      if (this.closed) throw new HeraldError('STORAGE_UNAVAILABLE', 'the Kafka producer is closed');
      session = await within(until, this.currentSession(), 'Kafka did not give a producer id in time');
      broker = await within(until, this.cluster.broker(leader), 'Kafka did not connect in time');
      if (performance.now() >= until)
        throw new HeraldError('STORAGE_UNAVAILABLE', 'no time left to publish to Kafka');
    } catch (err) {
      const error = notSent(err, 'publish to Kafka');
      // A leader that went away: nothing was sent, so once more on fresh metadata.
      return batches.map(() =>
        isStaleMetadata(err) ? { ok: false, error, again: true } : { ok: false, error },
      );
    }
    const sequences = batches.map((b) => session.next.get(partitionKey(b.ref)) ?? 0);
    const byTopic = new Map<string, number[]>();
    batches.forEach((b, i) => byTopic.set(b.ref.topic, [...(byTopic.get(b.ref.topic) ?? []), i]));
    const body = encodeProduceRequest({
      acks: -1,
      timeoutMs: Math.max(1, Math.floor(until - performance.now())),
      producer: session.identity,
      topics: [...byTopic].map(([topic, indexes]) => ({
        topic,
        partitions: indexes.map((i) => ({
          partition: batches[i].ref.partition,
          baseSequence: sequences[i],
          records: batches[i].records,
        })),
      })),
    });
    let results: PartitionResult[];
    try {
      results = await within(
        until,
        broker.connectionPool.send({ request: rawRequest(body), response: PRODUCE_RESPONSE }),
        'Kafka did not acknowledge the publish in time',
      );
    } catch (err) {
      // Sent or not, stored or not: unknown. The session's sequences can no longer be trusted.
      this.dropSession(session);
      const e = toHeraldError(err, 'publish to Kafka');
      const error = new HeraldError(
        'STORAGE_UNAVAILABLE',
        `${e.message}; the outcome is unknown`,
        e.metadata,
        {
          cause: err,
        },
      );
      return batches.map(() => ({ ok: false, error }));
    }
    const byPartition = new Map(results.map((r) => [partitionKey(r), r]));
    return batches.map((b, i): Attempt => {
      const r = byPartition.get(partitionKey(b.ref));
      const where = `${b.ref.topic}/${b.ref.partition}`;
      if (!r) {
        this.dropSession(session);
        return unknown(`Kafka's produce answer did not name ${where}`);
      }
      if (r.errorCode !== 0) {
        this.dropSession(session);
        const type = kafkaErrorName(r.errorCode);
        const metadata = { kafkaError: type, topic: b.ref.topic, partition: String(b.ref.partition) };
        if (TOO_LARGE.has(r.errorCode))
          return {
            ok: false,
            error: new HeraldError(
              'MESSAGE_TOO_LARGE',
              `Kafka refused the batch for ${where} (${type}); nothing was stored`,
              metadata,
            ),
          };
        const error = new HeraldError(
          'STORAGE_UNAVAILABLE',
          NOT_STORED_STALE_LEADER.has(r.errorCode)
            ? `Kafka refused the batch for ${where} (${type}); nothing was stored`
            : `Kafka answered ${type} for ${where}; the outcome is unknown`,
          metadata,
        );
        return NOT_STORED_STALE_LEADER.has(r.errorCode)
          ? { ok: false, error, again: true }
          : { ok: false, error };
      }
      const last = session.last.get(partitionKey(b.ref));
      if (r.baseOffset < 0n || (last !== undefined && r.baseOffset <= last)) {
        // A duplicate's answer (the offset of a batch stored before): this batch was not stored.
        this.dropSession(session);
        return unknown(`Kafka answered ${where} with offset ${r.baseOffset}, not after ${last ?? 'none'}`);
      }
      const count = b.records.length;
      session.next.set(partitionKey(b.ref), (sequences[i] + count) % SEQUENCE_SPAN);
      session.last.set(partitionKey(b.ref), r.baseOffset + BigInt(count - 1));
      return { ok: true, baseOffset: r.baseOffset };
    });
  }

  private currentSession(): Promise<Session> {
    if (!this.session) {
      const pending = this.startSession();
      this.session = pending;
      // Runs before any send awaiting the session resumes (handlers run in the order attached).
      pending.then(
        (session) => {
          if (this.session === pending) this.started = session;
        },
        // A failed start is retried by the next send.
        () => {
          if (this.session === pending) this.session = undefined;
        },
      );
    }
    return this.session;
  }

  private async startSession(): Promise<Session> {
    await this.cluster.raw.refreshMetadataIfNecessary();
    // Not transactional: any broker hands out producer ids.
    const broker = await this.cluster.controller();
    const { producerId, producerEpoch } = await broker.initProducerId({ transactionTimeout: 60_000 });
    this.options.logger.debug('Kafka producer id', { producerId, producerEpoch });
    return {
      identity: { producerId: BigInt(producerId), producerEpoch },
      next: new Map<string, number>(),
      last: new Map<string, bigint>(),
    };
  }

  /** Drops `which` if it is still the session: the next send gets a new producer id. */
  private dropSession(which: Session): void {
    if (this.started !== which) return;
    this.started = undefined;
    this.session = undefined;
  }

  close(): void {
    this.closed = true;
    this.session = undefined;
    this.started = undefined;
  }
}

/** The request object kafkajs' connection sends: its encode() gives the prebuilt body. */
function rawRequest(body: Buffer) {
  return {
    apiKey: PRODUCE_API_KEY,
    apiVersion: PRODUCE_VERSION,
    apiName: 'Produce',
    // kafkajs copies the body after its request header; it reads an Encoder's buf and buffer.
    encode: () => Promise.resolve({ buf: body, buffer: body }),
  };
}

/** kafkajs' connection decodes with decode(), then parse() (which here throws nothing: every partition is checked). */
const PRODUCE_RESPONSE = {
  decode: (payload: Buffer) => Promise.resolve(decodeProduceResponse(payload)),
  parse: (results: PartitionResult[]) => Promise.resolve(results),
};

function unknown(message: string): ProduceOutcome {
  return { ok: false, error: new HeraldError('STORAGE_UNAVAILABLE', `${message}; the outcome is unknown`) };
}

/** A failure before anything was sent: nothing was stored. */
function notSent(err: unknown, what: string): HeraldError {
  const e = toHeraldError(err, what);
  return new HeraldError('STORAGE_UNAVAILABLE', `${e.message}; nothing was sent`, e.metadata, { cause: err });
}

/** `work`, or STORAGE_UNAVAILABLE once performance.now() reaches `until`. */
function within<T>(until: number, work: Promise<T>, message: string): Promise<T> {
  return deadline(work, Math.max(0, Math.floor(until - performance.now())), message);
}

// The Producer: routes each message to its partition's owner (GetRoutes from the meta-server,
// cached), batches per partition (client/batching.ts decides when a batch goes), sends each
// batch as one request on the broker's PublishStream (client/publish-stream.ts; a unary Publish
// where only a forwarding broker can help), and retries retriable failures with backoff until the message's delivery
// timeout. A topic over its rate limit (RATE_LIMITED) says how long to wait (retry_after_ms): the
// batch is sent again after that wait, still within the delivery timeout. Without a meta-server
// it learns each topic's partition count from the broker's first answer and then hashes keys
// itself, so keyed messages batch per partition there too.
//
// Order: with maxInFlight 1 (the default) one batch per key is in flight at a time (a message
// without a key counts as its partition's one key), so messages with one key are stored in the
// order send() was called, retries included, while other keys' messages of the same partition
// go without waiting for that batch; with more, batches of a key in flight together may be
// stored in either order (docs/sdk.md). Delivery is at least
// once: a Publish whose answer was lost is sent again and may be stored twice (pair with
// client/idempotency/).
import { channelCredentials, tokenReader } from '../common/grpc/credentials';
import { HeraldError } from '../common/errors';
import { retry } from '../common/backoff';
import { BrokerConnections, unary } from './connections';
import { PublishStreams, StreamBroken } from './publish-stream';
import { MetaConnection } from '../common/meta-client';
import { partitionForKey } from '../common/partitioner';
import { RouteCache } from './routes';
import type { TopicRoutes } from './routes';
import { toWire, wireSize } from './message';
import { emptyBatch, nextBatch, planBatch, take, unkeyedPartition } from './batching';
import type { NextBatch, WaitingMessage } from './batching';
import type { OutgoingMessage, SendResult } from './message';
import { producerOptions } from './options';
import type { Input, ProducerOptions } from './options';
import type { Logger } from '../common/logger';
import type { Message__Input } from '../proto/gen/herald/v1/Message';
import type { PublishRequest__Input } from '../proto/gen/herald/v1/PublishRequest';
import type { PublishResponse } from '../proto/gen/herald/v1/PublishResponse';

interface Pending extends WaitingMessage {
  wire: Message__Input;
  resolve(result: SendResult): void;
  reject(err: unknown): void;
  deadline: number;
}

/** Where a batch goes: a partition, or (without a meta-server) a key the broker hashes, or neither. */
type Route = { partition: number } | { key: string } | Record<string, never>;

/** A batch's messages: one publish request. */
interface Batch {
  topic: string;
  route: Route;
  items: Pending[];
}

/** The messages of one partition (or key the broker hashes) waiting to go, and its Publishes in flight. */
interface Lane {
  id: string;
  topic: string;
  route: Route;
  /** In send() order. */
  waiting: Pending[];
  /** What the next batch would take from `waiting` (client/batching.ts), kept as messages arrive. */
  next: NextBatch;
  /** Per key: Publishes in flight carrying it. */
  inFlight: Map<string, number>;
  /** Publishes in flight. */
  publishes: number;
  timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
}

export class Producer {
  readonly options: ProducerOptions;
  private readonly log: Logger;
  private readonly conns: BrokerConnections;
  private readonly streams: PublishStreams;
  private readonly meta: MetaConnection | undefined;
  private readonly routes: RouteCache | undefined;
  /** Lanes with messages waiting or Publishes in flight. */
  private readonly lanes = new Map<string, Lane>();
  /** Every Publish in flight, settled (never rejected) when it is. */
  private readonly publishing = new Set<Promise<void>>();
  private readonly sticky = new Map<string, number>();
  /** Per topic, the routing of the latest send (settled, never rejected). */
  private readonly routing = new Map<string, Promise<void>>();
  /** Direct mode: each topic's partition count from the broker's answers (0: it did not say). */
  private readonly partitionCounts = new Map<string, number>();
  /** Direct mode: a topic whose count is being learned, settled when that first Publish is. */
  private readonly learning = new Map<string, { key: string; done: Promise<void>; settle: () => void }>();
  private publishCalls = 0;
  private throttledCalls = 0;
  private closed = false;

  constructor(input: Input<ProducerOptions>) {
    this.options = producerOptions(input);
    this.log = this.options.logger.namespace('producer');
    const credentials = () => channelCredentials(this.options.security);
    this.conns = new BrokerConnections(credentials);
    this.streams = new PublishStreams(this.conns, tokenReader(this.options.security?.auth));
    if (this.options.meta.length > 0) {
      this.meta = new MetaConnection(this.options.meta, credentials);
      this.routes = new RouteCache(this.meta, this.options.namespace, this.options.routeTtlMs);
    }
  }

  /** Publish requests made so far (each carries one batch), for tests and metrics. */
  get publishRequests(): number {
    return this.publishCalls;
  }

  /** Publish calls refused with RATE_LIMITED so far (each was sent again after the wait it named). */
  get throttledRequests(): number {
    return this.throttledCalls;
  }

  /** Queues a message; resolves once the broker stored it, rejects with a HeraldError or UnavailableError. */
  send(topic: string, message: OutgoingMessage): Promise<SendResult> {
    try {
      if (this.closed)
        throw new HeraldError('INVALID_REQUEST', 'the producer is closed', { field: 'producer' });
      const wire = toWire(message);
      const deadline = Date.now() + this.options.deliveryTimeoutMs;
      // With no earlier send of the topic still routing, a route known now is taken at once:
      // the message joins its batch in this turn, without the routing chain's promises.
      const route = this.routing.has(topic) ? undefined : this.routeNow(topic, message, wire);
      if (route) return this.queued(topic, route, wire, deadline);
      return this.routed(topic, message, wire, deadline);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Routing waits for a topic's earlier sends, so messages reach their batches in send() order
   * even when the first ones wait for GetRoutes.
   */
  private async routed(
    topic: string,
    message: OutgoingMessage,
    wire: Message__Input,
    deadline: number,
  ): Promise<SendResult> {
    const previous = this.routing.get(topic) ?? Promise.resolve();
    const routed = previous.then(() => this.route(topic, message, wire, deadline));
    const settled = routed.then(
      () => undefined,
      () => undefined,
    );
    this.routing.set(topic, settled);
    void settled.then(() => {
      if (this.routing.get(topic) === settled) this.routing.delete(topic);
    });
    return this.queued(topic, await routed, wire, deadline);
  }

  private queued(topic: string, route: Route, wire: Message__Input, deadline: number): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) =>
      this.enqueue(topic, route, wire, deadline, resolve, reject),
    );
  }

  /** Sends every queued message now and waits until all sends have settled. */
  async flush(): Promise<void> {
    while (this.routing.size > 0) await Promise.all([...this.routing.values()]);
    // Routed sends enqueue in the continuation that follows their routing.
    await new Promise((resolve) => setImmediate(resolve));
    // Messages of a busy key wait only for Publishes in flight; once those settled they go too.
    for (;;) {
      for (const lane of [...this.lanes.values()]) while (lane.next.messages > 0) this.dispatch(lane);
      if (this.publishing.size === 0) return;
      await Promise.race([...this.publishing]);
    }
  }

  /** Flushes, then closes the connections. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.streams.end();
    this.conns.close();
    this.meta?.close();
  }

  private async route(
    topic: string,
    m: OutgoingMessage,
    wire: Message__Input,
    deadline: number,
  ): Promise<Route> {
    if (!this.routes) {
      if (m.partition !== undefined) return { partition: m.partition };
      if (m.key === undefined) return {};
      const partitions = await this.partitionCount(topic, m.key);
      return partitions > 0 ? { partition: partitionForKey(m.key, partitions) } : { key: m.key };
    }
    const routes = this.routes;
    const r = await retry(() => routes.get(topic), { ...this.options.retry, deadline });
    return this.pick(topic, m, wire, r);
  }

  /** The route when it needs no waiting (direct mode with the partition count known, or fresh routes); else undefined. */
  private routeNow(topic: string, m: OutgoingMessage, wire: Message__Input): Route | undefined {
    if (!this.routes) {
      if (m.partition !== undefined) return { partition: m.partition };
      if (m.key === undefined) return {};
      const partitions = this.partitionCounts.get(topic);
      if (partitions === undefined) return undefined;
      return partitions > 0 ? { partition: partitionForKey(m.key, partitions) } : { key: m.key };
    }
    const r = this.routes.fresh(topic);
    return r && this.pick(topic, m, wire, r);
  }

  /** The partition of a message, from the topic's routes. */
  private pick(topic: string, m: OutgoingMessage, wire: Message__Input, r: TopicRoutes): Route {
    const size = wireSize(wire);
    if (r.maxMessageBytes > 0 && size > r.maxMessageBytes) {
      throw new HeraldError(
        'MESSAGE_TOO_LARGE',
        `message is ${size} bytes; topic ${topic} accepts at most ${r.maxMessageBytes}`,
        { size: String(size), limit: String(r.maxMessageBytes) },
      );
    }
    let partition: number;
    if (m.partition !== undefined) partition = m.partition;
    else if (m.key !== undefined) partition = partitionForKey(m.key, r.partitions);
    else {
      const delayed = isDelayed(wire);
      partition = unkeyedPartition(this.sticky.get(topic), r.partitions, (p) =>
        this.takesUnkeyed(laneId(topic, { partition: p }, delayed)),
      );
    }
    if (partition >= r.partitions) {
      throw new HeraldError(
        'PARTITION_OUT_OF_RANGE',
        `partition ${partition} >= topic ${topic}'s ${r.partitions} partitions`,
        { partition: String(partition), partitions: String(r.partitions) },
      );
    }
    if (m.partition === undefined && m.key === undefined) this.sticky.set(topic, partition);
    return { partition };
  }

  /**
   * Direct mode: the topic's partition count, or 0 while it is unknown to this send, which then
   * goes with its key (the broker hashes it) and teaches the count. Later keyed sends wait for
   * that answer: routing is in send() order per topic, so a key's messages stay in order.
   */
  private async partitionCount(topic: string, key: string): Promise<number> {
    for (;;) {
      const known = this.partitionCounts.get(topic);
      if (known !== undefined) return known;
      const pending = this.learning.get(topic);
      if (!pending) {
        let settle = () => {};
        const done = new Promise<void>((resolve) => (settle = resolve));
        this.learning.set(topic, { key, done, settle });
        return 0;
      }
      await pending.done;
    }
  }

  /**
   * A Publish settled, with the topic's partition count when it was answered. The sends waiting
   * for the count go on once the learning send's own batch settled (its lane is then empty);
   * after a failure the next keyed send tries again.
   */
  private learned(b: Batch, partitions: number | undefined): void {
    if (this.routes) return;
    if (partitions !== undefined) this.partitionCounts.set(b.topic, partitions);
    const pending = this.learning.get(b.topic);
    if (pending && 'key' in b.route && b.route.key === pending.key) {
      this.learning.delete(b.topic);
      pending.settle();
    }
  }

  private enqueue(
    topic: string,
    route: Route,
    wire: Message__Input,
    deadline: number,
    resolve: (result: SendResult) => void,
    reject: (err: unknown) => void,
  ): void {
    const id = laneId(topic, route, isDelayed(wire));
    let lane = this.lanes.get(id);
    if (!lane) {
      lane = {
        id,
        topic,
        route,
        waiting: [],
        next: emptyBatch(),
        inFlight: new Map(),
        publishes: 0,
        timer: undefined,
      };
      this.lanes.set(id, lane);
    }
    const p: Pending = {
      wire,
      resolve,
      reject,
      deadline,
      key: wire.key ?? '',
      bytes: wireSize(wire),
      at: performance.now(),
    };
    lane.waiting.push(p);
    // A busy key's message waits for its Publish in flight; another key's joins the next batch.
    if (this.busy(lane, p.key)) return;
    take(lane.next, p, this.options);
    this.plan(lane);
  }

  /** Whether an unkeyed message would join the next batch of lane `id` (no lane: a new one). */
  private takesUnkeyed(id: string): boolean {
    const lane = this.lanes.get(id);
    return !lane || (!lane.next.full && !this.busy(lane, ''));
  }

  private busy(lane: Lane, key: string): boolean {
    return keysInFlight(lane, key) >= this.options.maxInFlight;
  }

  /** Sends the lane's next batch now, later, or once a Publish in flight is answered. */
  private plan(lane: Lane): void {
    const plan = planBatch(lane.next, performance.now(), this.options);
    if (plan.kind === 'send') return this.dispatch(lane);
    if (plan.kind === 'hold' || lane.timer !== undefined) return;
    lane.timer =
      plan.ms === 0
        ? setImmediate(() => this.dispatch(lane))
        : setTimeout(() => this.dispatch(lane), plan.ms);
  }

  /** Sends the lane's next batch (if it has one) as one Publish, then plans the rest. */
  private dispatch(lane: Lane): void {
    clearTimeout(lane.timer as NodeJS.Timeout | undefined);
    clearImmediate(lane.timer as NodeJS.Immediate | undefined);
    lane.timer = undefined;
    if (lane.next.messages === 0) return;
    const { taken } = nextBatch(lane.waiting, (key) => keysInFlight(lane, key), this.options);
    const chosen = new Set(taken);
    const items = taken.map((i) => lane.waiting[i]);
    lane.waiting = lane.waiting.filter((_, i) => !chosen.has(i));
    const keys = new Set(items.map((p) => p.key));
    for (const k of keys) lane.inFlight.set(k, (lane.inFlight.get(k) ?? 0) + 1);
    lane.publishes++;
    // Unkeyed messages stick to one partition per batch, then move on (Kafka's sticky partitioner).
    if ('partition' in lane.route && this.sticky.get(lane.topic) === lane.route.partition) {
      this.sticky.delete(lane.topic);
    }
    const sent = this.publish({ topic: lane.topic, route: lane.route, items }).then(() => {
      this.publishing.delete(sent);
      lane.publishes--;
      for (const k of keys) {
        const n = (lane.inFlight.get(k) ?? 0) - 1;
        if (n > 0) lane.inFlight.set(k, n);
        else lane.inFlight.delete(k);
      }
      this.replan(lane);
    });
    this.publishing.add(sent);
    this.replan(lane);
  }

  /** The lane's keys in flight changed: what its next batch takes, and when it goes. */
  private replan(lane: Lane): void {
    if (lane.waiting.length === 0 && lane.publishes === 0) {
      if (this.lanes.get(lane.id) === lane) this.lanes.delete(lane.id);
      return;
    }
    lane.next = nextBatch(lane.waiting, (key) => keysInFlight(lane, key), this.options).batch;
    this.plan(lane);
  }

  /** Sends a batch until it is stored or fails; settles every message. Never rejects. */
  private async publish(b: Batch): Promise<void> {
    let items = b.items;
    while (items.length > 0) {
      const batch = items;
      try {
        const res = await this.publishOnce(b, batch);
        this.learned(b, res.partitions);
        batch.forEach((p, i) => {
          const r = res.results[i];
          p.resolve({
            topic: res.topic || b.topic,
            partition: res.partition,
            offset: r?.offset ?? 0,
            messageId: r?.messageId ?? '',
            deliverAtMs: r?.deliverAtMs ?? 0,
          });
        });
        return;
      } catch (err) {
        // One oversize message fails the whole (atomic) batch: reject it alone, send the rest.
        const index =
          err instanceof HeraldError && err.reason === 'MESSAGE_TOO_LARGE' ? Number(err.metadata.index) : NaN;
        if (Number.isInteger(index) && index >= 0 && index < batch.length && batch.length > 1) {
          batch[index].reject(err);
          items = batch.filter((_, i) => i !== index);
          continue;
        }
        this.learned(b, undefined);
        for (const p of batch) p.reject(err);
        return;
      }
    }
  }

  private async publishOnce(b: Batch, items: Pending[]): Promise<PublishResponse> {
    const request: PublishRequest__Input = { topic: b.topic, ...b.route, messages: items.map((p) => p.wire) };
    const deadline = Math.min(...items.map((p) => p.deadline));
    let calledAddress = '';
    // A batch goes on the broker's PublishStream, unless a broker answered that it does not own
    // the partition where no route names the owner (direct mode): brokers forward a unary
    // Publish to the owner, not a stream's requests.
    let forwarded = false;
    return retry(
      async () => {
        const address = await this.address(b);
        calledAddress = address;
        const timeout = Math.max(1, Math.min(this.options.callTimeoutMs, deadline - Date.now()));
        this.publishCalls++;
        if (!forwarded) {
          try {
            return await this.streams.publish(address, request, timeout);
          } catch (err) {
            if (!(err instanceof StreamBroken)) throw err;
            // No verdict on this batch (the stream may have ended for another request's sake):
            // it gets its own from a unary Publish.
            this.publishCalls++;
          }
        }
        return unary<PublishResponse>(address, timeout, (opts, cb) =>
          this.conns.get(address).broker.Publish(request, opts, cb),
        );
      },
      {
        ...this.options.retry,
        deadline,
        onRetry: (err, attempt) => {
          this.log.debug('publish retry', { topic: b.topic, attempt, err });
          if (err instanceof HeraldError && err.reason === 'RATE_LIMITED') {
            this.throttledCalls++;
            return rateLimitWait(err);
          }
          const notOwner = err instanceof HeraldError && err.reason === 'NOT_PARTITION_OWNER';
          if (!this.routes || !('partition' in b.route)) {
            if (!notOwner || forwarded) return undefined;
            forwarded = true;
            return 0;
          }
          const owner = notOwner ? err.metadata.owner : undefined;
          if (owner && owner !== calledAddress) {
            this.routes.setOwner(b.topic, b.route.partition, owner);
            return 0;
          }
          this.routes.invalidate(b.topic);
          return undefined;
        },
      },
    );
  }

  private async address(b: Batch): Promise<string> {
    if (!this.routes || !('partition' in b.route)) return this.options.broker ?? '';
    const r = await this.routes.get(b.topic);
    const owner = r.owners[b.route.partition];
    // No owner yet (a partition between brokers): any broker answers NOT_PARTITION_OWNER or forwards.
    if (owner) return owner;
    const any = this.options.broker ?? r.owners.find((a) => a !== undefined);
    if (!any) {
      this.routes.invalidate(b.topic);
      throw new HeraldError('NOT_PARTITION_OWNER', `no broker holds ${b.topic}/${b.route.partition} yet`, {
        topic: b.topic,
        partition: String(b.route.partition),
      });
    }
    return any;
  }
}

/**
 * A lane: the messages of one topic for one partition (or key the broker hashes), delayed ones
 * apart, since a Publish is stored in one transaction and a broker refuses a request that mixes
 * delayed and immediate messages.
 */
function laneId(topic: string, route: Route, delayed: boolean): string {
  const target = 'partition' in route ? `p${route.partition}` : 'key' in route ? `k${route.key}` : '-';
  return `${topic}\0${target}${delayed ? '\0delayed' : ''}`;
}

function isDelayed(wire: Message__Input): boolean {
  return wire.deliverAtMs !== undefined || wire.delayMs !== undefined;
}

/** The lane's Publishes in flight that carry `key`. */
function keysInFlight(lane: Lane, key: string): number {
  return lane.inFlight.get(key) ?? 0;
}

/**
 * How long a RATE_LIMITED refusal asks to wait, plus up to 10 % so producers refused at the
 * same moment do not all come back at once; without a hint, the usual backoff.
 */
function rateLimitWait(err: HeraldError): number | undefined {
  const hint = Number(err.metadata.retry_after_ms);
  return hint > 0 ? Math.ceil(hint * (1 + Math.random() * 0.1)) : undefined;
}

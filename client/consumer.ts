// The Consumer: joins a consumer group through the meta-server (ConsumerLeaseClient: join,
// heartbeats, leases), fetches each partition it holds from the partition's owner (long-poll
// Pull by default, or a Subscribe stream paced by credits), runs the handler with at most
// `concurrency` messages at once, acks what the handler finished and nacks what it threw on.
//
// Leases: a partition is fetched only while its lease is valid by this process's clock, minus
// the safety margin, and a long poll never waits past that point, so fetching stops before the
// meta-server can give the partition to another consumer. Acks carry consumer id and epoch;
// the broker refuses those of a lost lease (LEASE_EXPIRED) and the message is redelivered.
import { channelCredentials } from '../common/grpc/credentials';
import * as grpc from '@grpc/grpc-js';
import { backoffDelay, isRetriable, retry } from '../common/backoff';
import { BrokerConnections, unary } from './connections';
import { callError, fromRpcStatus, HeraldError } from '../common/errors';
import { ConsumerLeaseClient, MetaConnection, isRefusal } from '../common/meta-client';
import { CONSUMER_LEASE } from '../common/lease-math';
import { consumerOptions } from './options';
import type { ConsumerOptions, Input } from './options';
import { RouteCache } from './routes';
import type { Logger } from '../common/logger';
import type { Delivery } from '../proto/gen/herald/v1/Delivery';
import type { PullResponse } from '../proto/gen/herald/v1/PullResponse';
import type { AckRefused } from '../proto/gen/herald/v1/AckRefused';
import type { SubscribeRequest__Input } from '../proto/gen/herald/v1/SubscribeRequest';
import type { SubscribeResponse } from '../proto/gen/herald/v1/SubscribeResponse';

export type { Delivery };

/** Throw from a handler to have the message retried after `delayMs` instead of the group's schedule. */
export class RetryLater extends Error {
  override readonly name = 'RetryLater';
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

export type MessageHandler = (message: Delivery) => Promise<void> | void;

export interface RunOptions {
  /** Called for every message; resolve to ack, throw to nack (with the error's message). */
  eachMessage: MessageHandler;
}

/** How often the consumer looks at its leases for partitions gained or lost. */
const RECONCILE_MS = 100;
/** How long acks wait for company before one Ack call carries them. */
const ACK_LINGER_MS = 5;
const ACK_BATCH = 200;
/** Deliveries a Subscribe response may carry (SubscribeStart.max_batch). */
const SUBSCRIBE_BATCH = 100;

interface Lease {
  epoch: number;
  validUntil: number;
}

interface AckBatch {
  epoch: number;
  offsets: number[];
  timer: NodeJS.Timeout;
}

export class Consumer {
  readonly options: ConsumerOptions;
  private readonly log: Logger;
  private readonly conns: BrokerConnections;
  private readonly meta: MetaConnection | undefined;
  private readonly routes: RouteCache | undefined;
  private readonly leases: ConsumerLeaseClient | undefined;
  /** Without a meta-server: owners that brokers named in NOT_PARTITION_OWNER answers. */
  private readonly redirects = new Map<number, string>();
  private topic = '';
  private handler: MessageHandler | undefined;
  private readonly workers = new Map<number, Promise<void>>();
  /** Running Pull calls and Subscribe streams, cancelled by close(). */
  private readonly calls = new Set<{ cancel(): void }>();
  private readonly streams = new Set<{ cancel(): void }>();
  private readonly acks = new Map<number, AckBatch>();
  /** The open Subscribe stream of each partition, which carries its acks (subscribe mode). */
  private readonly ackStreams = new Map<
    number,
    { epoch: number; stream: { write(r: SubscribeRequest__Input): boolean; writable: boolean } }
  >();
  private readonly settling = new Set<Promise<void>>();
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  /** Deliveries waiting for a free handler slot. */
  private readonly queue: { d: Delivery; epoch: number; done: (() => void) | undefined }[] = [];
  private reconcileTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private stopped = false;
  private processedCount = 0;
  private end!: (err: HeraldError | undefined) => void;
  /**
   * Resolves when the consumer has stopped: undefined after close(); the error when the
   * meta-server or a broker refused it for good (PERMISSION_DENIED, UNAUTHENTICATED: its rule or
   * credential went away while it ran). It then stops fetching and closes itself.
   */
  readonly ended: Promise<HeraldError | undefined> = new Promise((resolve) => (this.end = resolve));

  constructor(input: Input<ConsumerOptions>) {
    this.options = consumerOptions(input);
    this.log = this.options.logger.namespace('consumer');
    const o = this.options;
    const credentials = () => channelCredentials(o.security);
    this.conns = new BrokerConnections(credentials);
    if (o.meta.length > 0) {
      this.meta = new MetaConnection(o.meta, credentials);
      this.routes = new RouteCache(this.meta, o.namespace, o.routeTtlMs);
      this.leases = new ConsumerLeaseClient({
        metaAddresses: o.meta,
        credentials,
        safetyMarginMs: CONSUMER_LEASE.safetyMarginMs,
        logger: this.log,
        namespace: o.namespace,
        group: o.group,
        consumerId: o.consumerId,
        zone: o.zone,
        onRefused: (err) => this.refused(callError(err, 'meta-server')),
      });
    } else {
      this.topic = o.topic ?? '';
    }
  }

  /** The topic read: the group's (known once run() resolved), or the one given without a meta-server. */
  get subscribedTopic(): string {
    return this.topic;
  }

  /** Messages whose handler finished (acked or nacked). */
  get processed(): number {
    return this.processedCount;
  }

  /** The partitions this consumer reads now. */
  assignment(): number[] {
    return this.leases ? this.leases.partitions() : [...(this.options.partitions ?? [])];
  }

  /** Joins the group (GROUP_NOT_FOUND for an undeclared group) and starts fetching; returns once joined. */
  async run({ eachMessage }: RunOptions): Promise<void> {
    if (this.handler) throw new HeraldError('INVALID_REQUEST', 'run() was already called', { field: 'run' });
    this.handler = eachMessage;
    if (this.leases) {
      try {
        await this.leases.sync();
      } catch (err) {
        this.stopped = true;
        await this.leases.stop({ leave: false });
        this.meta?.close();
        throw callError(err, 'meta-server');
      }
      this.topic = this.leases.topic();
      this.leases.start();
    }
    this.log.info('consumer started', {
      group: this.options.group,
      topic: this.topic,
      id: this.options.consumerId,
    });
    this.reconcile();
  }

  /** Refused for good: stop, close, and tell whoever waits on `ended`. */
  private refused(err: unknown): void {
    if (this.stopped) return;
    this.log.error('refused; the consumer stops', { err });
    this.end(err instanceof HeraldError ? err : new HeraldError('PERMISSION_DENIED', String(err)));
    void this.close();
  }

  /**
   * Stops fetching, waits up to closeTimeoutMs for running handlers, sends the acks of those that
   * finished and leaves the group, so its partitions move to other consumers at once.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconcileTimer);
    for (const s of this.streams) s.cancel();
    this.wake();
    const deadline = Date.now() + this.options.closeTimeoutMs;
    // Running long polls end within maxWaitMs; cancelling one would strand what the broker has
    // already handed it until the ack timeout, so they are awaited and their messages given back.
    await withDeadline(Promise.all([...this.workers.values()]), deadline);
    for (const c of this.calls) c.cancel();
    while (this.inFlight > 0 && Date.now() < deadline) {
      await withDeadline(new Promise<void>((resolve) => this.waiters.push(resolve)), deadline);
    }
    if (this.inFlight > 0) this.log.warn('closing with handlers still running', { inFlight: this.inFlight });
    // Fetched but never handed to the handler: redeliverable at once instead of after the ack timeout.
    for (const { d, epoch } of this.queue.splice(0)) {
      this.nack(d.partition, d.offset, epoch, 'the consumer closed before processing the message', 0);
    }
    for (const p of [...this.acks.keys()]) this.flushAcks(p);
    await Promise.all([...this.settling]);
    await Promise.all([...this.workers.values()]);
    if (this.leases) {
      await this.leases.stop({ leave: true }).catch((err: unknown) => this.log.warn('leave failed', { err }));
    }
    this.conns.close();
    this.meta?.close();
    this.log.info('consumer closed', { group: this.options.group, processed: this.processedCount });
    this.end(undefined);
  }

  private lease(partition: number): Lease | undefined {
    if (!this.leases) return { epoch: 0, validUntil: Number.MAX_SAFE_INTEGER };
    return this.leases.lease(partition);
  }

  private reconcile(): void {
    if (this.stopped) return;
    for (const p of this.assignment()) {
      if (this.workers.has(p)) continue;
      const epoch = this.lease(p)?.epoch ?? 0;
      const loop =
        this.options.fetch === 'subscribe' ? this.subscribeLoop(p, epoch) : this.pullLoop(p, epoch);
      const worker = loop
        .catch((err: unknown) => this.log.error('partition worker failed', { partition: p, err }))
        .finally(() => this.workers.delete(p));
      this.workers.set(p, worker);
    }
    this.reconcileTimer = setTimeout(() => this.reconcile(), RECONCILE_MS);
  }

  /** Whether the partition is still ours under the epoch the worker started with. */
  private holds(partition: number, epoch: number): Lease | undefined {
    const l = this.lease(partition);
    return !this.stopped && l && l.epoch === epoch ? l : undefined;
  }

  private async address(partition: number): Promise<string> {
    if (!this.routes) return this.redirects.get(partition) ?? this.options.broker ?? '';
    const r = await this.routes.get(this.topic);
    const owner = r.owners[partition] ?? r.owners.find((a) => a !== undefined);
    if (!owner) {
      this.routes.invalidate(this.topic);
      throw new HeraldError('NOT_PARTITION_OWNER', `no broker holds ${this.topic}/${partition} yet`, {});
    }
    return owner;
  }

  /** A broker named the partition's owner (Subscribe is not forwarded, so even direct mode follows it). */
  private followOwner(partition: number, owner: string): void {
    if (this.routes) this.routes.setOwner(this.topic, partition, owner);
    else this.redirects.set(partition, owner);
  }

  /** The route stopped working: ask the meta-server again, or go back to the configured broker. */
  private forgetRoute(partition: number): void {
    this.routes?.invalidate(this.topic);
    this.redirects.delete(partition);
  }

  /** After a failed fetch: follow a new owner at once, else wait a backoff step. */
  private async recover(
    partition: number,
    err: unknown,
    attempt: number,
    calledAddress: string,
  ): Promise<void> {
    const e = callError(err, calledAddress);
    if (this.stopped) return;
    const owner =
      e instanceof HeraldError && e.reason === 'NOT_PARTITION_OWNER' ? e.metadata.owner : undefined;
    if (owner && owner !== calledAddress) {
      this.followOwner(partition, owner);
      return;
    }
    if (e instanceof HeraldError && e.reason === 'LEASE_EXPIRED') {
      this.log.info('lease no longer valid at the broker', { partition });
    } else if (isRefusal(err)) {
      return this.refused(e);
    } else if (isRetriable(e)) {
      this.forgetRoute(partition);
      this.log.debug('fetch failed, retrying', { partition, err: e });
    } else {
      this.log.error('fetch failed', { partition, err: e });
    }
    await this.sleep(backoffDelay(attempt, this.options.retry) + 10);
  }

  /**
   * One long poll at a time per partition, so a message on any partition is fetched at once;
   * a partition waits while `concurrency` fetched messages are already waiting for a handler.
   */
  private async pullLoop(partition: number, epoch: number): Promise<void> {
    let attempt = 0;
    while (await this.bufferRoom()) {
      const lease = this.holds(partition, epoch);
      const waitMs = lease ? Math.min(this.options.maxWaitMs, lease.validUntil - Date.now() - 50) : 0;
      if (waitMs <= 0) break;
      let address = '';
      try {
        address = await this.address(partition);
        const max = Math.max(1, this.options.concurrency - this.queue.length);
        const res = await this.pull(address, partition, epoch, max, waitMs);
        for (const d of res.messages) this.dispatch(d, epoch);
        attempt = 0;
      } catch (err) {
        await this.recover(partition, err, ++attempt, address);
      }
    }
  }

  private pull(
    address: string,
    partition: number,
    epoch: number,
    max: number,
    waitMs: number,
  ): Promise<PullResponse> {
    const o = this.options;
    return unary<PullResponse>(address, waitMs + o.callTimeoutMs, (opts, cb) => {
      const call = this.conns.get(address).broker.Pull(
        {
          group: o.group,
          topic: this.topic,
          partition,
          maxMessages: max,
          maxWaitMs: waitMs,
          ackTimeoutMs: o.ackTimeoutMs,
          consumerId: this.leases ? o.consumerId : '',
          leaseEpoch: epoch,
        },
        opts,
        (err, res) => {
          this.calls.delete(call);
          cb(err, res);
        },
      );
      this.calls.add(call);
    });
  }

  private async subscribeLoop(partition: number, epoch: number): Promise<void> {
    const o = this.options;
    let attempt = 0;
    while (this.holds(partition, epoch)) {
      let address = '';
      try {
        address = await this.address(partition);
        const stream = this.conns.get(address).broker.Subscribe();
        this.streams.add(stream);
        const carrier = { epoch, stream };
        this.ackStreams.set(partition, carrier);
        // Credits go back in batches of half the window, with no timer: while fewer than that
        // are owed the broker still holds more than half of them, so it never waits for a
        // grant while this side has room. (One grant per handled delivery, or per 1 ms, made
        // the broker and this process handle a stream message per delivery at low rates.)
        let owed = 0;
        const creditBatch = Math.max(1, Math.floor(o.concurrency / 2));
        const grant = () => {
          if (!stream.writableEnded) stream.write({ credits: owed });
          owed = 0;
        };
        const ended = new Promise<void>((resolve, reject) => {
          stream.on('data', (res: SubscribeResponse) => {
            attempt = 0;
            const handled = () => {
              if (++owed >= creditBatch) grant();
            };
            if (res.delivery) this.dispatch(res.delivery, epoch, handled);
            for (const d of res.deliveries) this.dispatch(d, epoch, handled);
            if (res.ackRefused) this.ackRefused(partition, epoch, res.ackRefused, address);
          });
          stream.on('error', (err: grpc.ServiceError) => reject(err));
          stream.on('end', () => resolve());
        });
        stream.write({
          start: {
            group: o.group,
            topic: this.topic,
            partition,
            credits: o.concurrency,
            ackTimeoutMs: o.ackTimeoutMs,
            consumerId: this.leases ? o.consumerId : '',
            leaseEpoch: epoch,
            maxBatch: SUBSCRIBE_BATCH,
          },
        });
        // The stream is cancelled as soon as the lease is no longer valid here.
        const watch = setInterval(() => {
          if (!this.holds(partition, epoch)) stream.cancel();
        }, RECONCILE_MS);
        try {
          await ended;
        } finally {
          clearInterval(watch);
          this.streams.delete(stream);
          if (this.ackStreams.get(partition) === carrier) this.ackStreams.delete(partition);
        }
        // The broker ended the stream (shutting down): reconnect after a backoff step.
        await this.sleep(backoffDelay(++attempt, this.options.retry));
      } catch (err) {
        if ((err as grpc.ServiceError).code === grpc.status.CANCELLED && !this.holds(partition, epoch)) break;
        await this.recover(partition, err, ++attempt, address);
      }
    }
  }

  /** Waits until fewer than `concurrency` fetched messages wait for a handler; false once closing. */
  private async bufferRoom(): Promise<boolean> {
    while (!this.stopped && this.queue.length >= this.options.concurrency) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return !this.stopped;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Runs the handler on a delivery once one of the `concurrency` slots is free, then acks or
   * nacks it. After close() deliveries stay queued and close() gives them back (Nack).
   */
  private dispatch(d: Delivery, epoch: number, done?: () => void): void {
    this.queue.push({ d, epoch, done });
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.queue.length > 0 && this.inFlight < this.options.concurrency) {
      const { d, epoch, done } = this.queue.shift()!;
      this.handle(d, epoch, done);
    }
  }

  private handle(d: Delivery, epoch: number, done?: () => void): void {
    if (!this.handler) return;
    this.inFlight++;
    const handler = this.handler;
    void (async () => {
      try {
        await handler(d);
        if (this.options.autoAck) this.ack(d.partition, d.offset, epoch);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.nack(d.partition, d.offset, epoch, message, err instanceof RetryLater ? err.delayMs : 0);
      } finally {
        this.inFlight--;
        this.processedCount++;
        this.pump();
        this.wake();
        done?.();
      }
    })();
  }

  private ack(partition: number, offset: number, epoch: number): void {
    let b = this.acks.get(partition);
    if (b && b.epoch !== epoch) {
      this.flushAcks(partition);
      b = undefined;
    }
    if (!b) {
      b = { epoch, offsets: [], timer: setTimeout(() => this.flushAcks(partition), ACK_LINGER_MS) };
      this.acks.set(partition, b);
    }
    b.offsets.push(offset);
    if (b.offsets.length >= ACK_BATCH) this.flushAcks(partition);
  }

  private flushAcks(partition: number): void {
    const b = this.acks.get(partition);
    if (!b) return;
    this.acks.delete(partition);
    clearTimeout(b.timer);
    // On the partition's Subscribe stream while it is open under the same lease: no call of its
    // own. Otherwise (pull mode, closing, a stream that ended) a unary Ack, retried.
    const carrier = this.ackStreams.get(partition);
    if (!this.stopped && carrier?.epoch === b.epoch && carrier.stream.writable) {
      carrier.stream.write({ ack: { offsets: b.offsets } });
      return;
    }
    this.unaryAck(partition, b.epoch, b.offsets);
  }

  /**
   * The broker refused an ack sent on a stream: one it may accept later or elsewhere (a moved
   * partition, a store outage) goes again as a unary Ack, which is retried and follows the
   * owner; any other refusal leaves the messages to be redelivered, as a failed Ack does.
   */
  private ackRefused(partition: number, epoch: number, refused: AckRefused, address: string): void {
    const err = fromRpcStatus(refused.status, address);
    if (isRetriable(err)) this.unaryAck(partition, epoch, refused.offsets);
    else this.log.warn('ack failed; the message will be redelivered', { partition, err });
  }

  private unaryAck(partition: number, epoch: number, offsets: number[]): void {
    const b = { epoch, offsets };
    this.settle('ack', partition, (address, opts, cb) =>
      this.conns.get(address).broker.Ack(
        {
          group: this.options.group,
          topic: this.topic,
          partition,
          offsets: b.offsets,
          ...this.holder(b.epoch),
        },
        opts,
        cb,
      ),
    );
  }

  private nack(partition: number, offset: number, epoch: number, error: string, delayMs: number): void {
    this.settle('nack', partition, (address, opts, cb) =>
      this.conns.get(address).broker.Nack(
        {
          group: this.options.group,
          topic: this.topic,
          partition,
          offsets: [offset],
          delayMs,
          error: error.slice(0, 4096),
          ...this.holder(epoch),
        },
        opts,
        cb,
      ),
    );
  }

  private holder(epoch: number): { consumerId: string; leaseEpoch: number } {
    return { consumerId: this.leases ? this.options.consumerId : '', leaseEpoch: epoch };
  }

  /** Sends an Ack or Nack to the owner, retrying retriable failures for a few seconds. */
  private settle(
    what: 'ack' | 'nack',
    partition: number,
    invoke: (
      address: string,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: object) => void,
    ) => unknown,
  ): void {
    let address = '';
    const p = retry(
      async () => {
        address = await this.address(partition);
        return unary<object>(address, this.options.callTimeoutMs, (opts, cb) => invoke(address, opts, cb));
      },
      {
        ...this.options.retry,
        deadline: Date.now() + Math.max(this.options.callTimeoutMs, 5_000),
        onRetry: (err) => {
          const owner =
            err instanceof HeraldError && err.reason === 'NOT_PARTITION_OWNER'
              ? err.metadata.owner
              : undefined;
          if (owner && owner !== address) {
            this.followOwner(partition, owner);
            return 0;
          }
          this.forgetRoute(partition);
          return undefined;
        },
      },
    )
      .then(() => undefined)
      .catch((err: unknown) =>
        this.log.warn(`${what} failed; the message will be redelivered`, { partition, err }),
      )
      .finally(() => this.settling.delete(p));
    this.settling.add(p);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        if (this.stopped) {
          clearTimeout(t);
          resolve();
        }
      });
    });
  }
}

/** Waits for `p`, but not past `deadline` (Date.now() clock); leaves no timer behind. */
async function withDeadline(p: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now())))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

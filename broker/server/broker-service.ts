// herald.v1.Broker handlers: convert between the generated protobuf types and the core's
// types, and report every failure through toServiceError (status.ts).
import type * as grpc from '@grpc/grpc-js';
import type { BrokerHandlers } from '../../proto/gen/herald/v1/Broker';
import type { Message } from '../../proto/gen/herald/v1/Message';
import type { PublishRequest } from '../../proto/gen/herald/v1/PublishRequest';
import type { PublishResponse__Input } from '../../proto/gen/herald/v1/PublishResponse';
import type { PublishStreamRequest } from '../../proto/gen/herald/v1/PublishStreamRequest';
import type { PublishStreamResponse__Input } from '../../proto/gen/herald/v1/PublishStreamResponse';
import type { SubscribeRequest } from '../../proto/gen/herald/v1/SubscribeRequest';
import type { SubscribeResponse__Input } from '../../proto/gen/herald/v1/SubscribeResponse';
import type { SubscribeStart } from '../../proto/gen/herald/v1/SubscribeStart';
import type { Delivered } from '../delivery/group-cursor';
import type { Delivery } from '../delivery/delivery';
import { Signal } from '../delivery/signal';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { BrokerMetrics } from '../metrics';
import type { PublishInput, PublishOutput, Publisher, Route, Schedule } from '../publish/publisher';
import type { NewMessage, PartitionRef } from '../../storage/storage';
import { callerAddress } from './forwarding';
import { StoredDeliveries } from './delivery-encoding';
import { messageId, scheduledId } from '../trace/message-id';
import type { CallRouter, Remote } from './forwarding';
import { toRpcStatus } from '../../common/grpc/status';
import { answer, failure } from '../../common/grpc/unary';
import type { UnaryCallback } from '../../common/grpc/unary';
import type { InBandRefusals } from '../../common/grpc/interceptors';

function publishInput(req: PublishRequest, peer: string): PublishInput {
  const route: Route =
    req.route === 'partition'
      ? { partition: req.partition! }
      : req.route === 'key'
        ? { key: req.key! }
        : undefined;
  const schedules = req.messages.some((m) => m.schedule !== undefined)
    ? req.messages.map(toSchedule)
    : undefined;
  return { topic: req.topic, route, messages: req.messages.map(toNewMessage), schedules, peer };
}

function toSchedule(m: Message): Schedule {
  if (m.schedule === 'deliverAtMs') return { deliverAtMs: Number(m.deliverAtMs) };
  if (m.schedule === 'delayMs') return { delayMs: Number(m.delayMs) };
  return undefined;
}

function publishResponse({
  ref,
  firstOffset,
  count,
  partitions,
  delayed,
}: PublishOutput): PublishResponse__Input {
  if (delayed) {
    return {
      topic: ref.topic,
      partition: ref.partition,
      partitions,
      results: delayed.map((d) => ({
        offset: 0,
        messageId: scheduledId(ref, d.id),
        deliverAtMs: d.deliverAt,
      })),
    };
  }
  return {
    topic: ref.topic,
    partition: ref.partition,
    partitions,
    results: Array.from({ length: count }, (_, i) => ({
      offset: firstOffset + i,
      messageId: messageId(ref, firstOffset + i),
    })),
  };
}

function toNewMessage(m: Message): NewMessage {
  return {
    key: m.key,
    refKey: m.refKey,
    tags: m.tags,
    properties: m.properties,
    body: m.body,
    priority: m.priority,
  };
}

/** SubscribeStart.max_batch's bounds (broker.proto): deliveries, and bytes of bodies, per response. */
export const MAX_SUBSCRIBE_BATCH = 1000;
export const MAX_SUBSCRIBE_BATCH_BYTES = 1024 * 1024;

/**
 * Deliveries taken together, cut into responses of at most `max` deliveries and about
 * `maxBytes` of bodies; a delivery larger than that travels alone, so no response is empty.
 */
export function responseBatches(ds: Delivered[], max: number, maxBytes: number): Delivered[][] {
  const out: Delivered[][] = [];
  let batch: Delivered[] = [];
  let bytes = 0;
  for (const d of ds) {
    const size = d.message.body.length;
    if (batch.length > 0 && (batch.length >= max || bytes + size > maxBytes)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(d);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

function bodyBytes(ds: Delivered[]): number {
  let bytes = 0;
  for (const d of ds) bytes += d.message.body.length;
  return bytes;
}

/**
 * A PublishStream request refused by an interceptor for what it asks (PERMISSION_DENIED: a
 * topic the caller may not publish to) is answered with its id and the error, as a failed
 * publish is; the stream goes on for the caller's other requests. A refusal of the caller
 * (UNAUTHENTICATED) still ends the stream.
 */
export const BROKER_IN_BAND_REFUSALS: InBandRefusals = new Map([
  [
    '/herald.v1.Broker/PublishStream',
    (req: PublishStreamRequest, err: HeraldError): PublishStreamResponse__Input | undefined =>
      err.reason === 'PERMISSION_DENIED' ? { requestId: req.requestId, error: toRpcStatus(err) } : undefined,
  ],
]);

function claim(req: { consumerId: string; leaseEpoch: number }) {
  return { id: req.consumerId, epoch: req.leaseEpoch };
}

/**
 * Signals when the client cancels the call (or its deadline passes). Made on first ask: a local
 * Publish never asks, and an AbortController per call, aborted when grpc-js reports the ended
 * call `cancelled`, was about 5 % of a Kafka broker's profile at 1,000 publishes a second.
 */
function cancellation(call: {
  readonly cancelled: boolean;
  on(event: 'cancelled', cb: () => void): unknown;
}): () => AbortSignal {
  let signal: AbortSignal | undefined;
  return () => {
    if (!signal) {
      const ac = new AbortController();
      if (call.cancelled) ac.abort();
      else call.on('cancelled', () => ac.abort());
      signal = ac.signal;
    }
    return signal;
  };
}

export function brokerHandlers(
  publisher: Publisher,
  delivery: Delivery,
  router: CallRouter,
  logger: Logger,
  metrics: Pick<BrokerMetrics, 'publishServer' | 'publishBudgetStops'>,
): BrokerHandlers {
  const fail = (method: string, err: unknown) => failure(logger, method, err);
  /** A publish answered: its time in the broker, from its handler to gRPC (herald_publish_server_seconds). */
  const served = (method: 'Publish' | 'PublishStream', started: number) =>
    metrics.publishServer.observe({ method }, (performance.now() - started) / 1000);

  /**
   * A unary call on one topic partition: served here, or forwarded to the partition's owner,
   * and answered through the one error mapping either way.
   */
  const routed = <Res>(
    method: string,
    call: {
      request: { topic: string };
      metadata: grpc.Metadata;
      getPeer(): string;
      readonly cancelled: boolean;
      on(event: 'cancelled', cb: () => void): unknown;
    },
    callback: UnaryCallback<Res>,
    local: (cancelled: () => AbortSignal) => Promise<Res>,
    remote: Remote<Res>,
  ): void => {
    const cancelled = cancellation(call);
    answer(logger, method, callback, () =>
      router.run(
        {
          topic: call.request.topic,
          metadata: call.metadata,
          peer: callerAddress(call),
          get cancelled() {
            return cancelled();
          },
        },
        () => local(cancelled),
        remote,
      ),
    );
  };

  return {
    Publish(call, callback) {
      const started = performance.now();
      const req = call.request;
      routed(
        'Publish',
        call,
        (err, res) => {
          callback(err, res);
          served('Publish', started);
        },
        () => publisher.publish(publishInput(req, callerAddress(call))).then(publishResponse),
        (c, md, cb) => c.Publish(req, md, cb),
      );
    },

    PublishStream(call) {
      // Bounded work per stream: stop reading while this many publishes are unanswered, while
      // the client is not reading its results, or while the broker's pending-bytes budget is
      // full (publish.maxPendingBytes; reading resumes when it has room).
      const maxOutstanding = 1024;
      const budget = publisher.budget;
      let outstanding = 0;
      let writeBlocked = false;
      let paused = false;
      let waitingForRoom = false;
      let ended = false;
      const flow = () => {
        if (budget.full && !waitingForRoom) {
          waitingForRoom = true;
          metrics.publishBudgetStops.inc({ method: 'PublishStream' });
          budget.whenRoom(() => {
            waitingForRoom = false;
            flow();
          });
        }
        const stop = writeBlocked || outstanding >= maxOutstanding || waitingForRoom;
        if (stop && !paused) call.pause();
        else if (!stop && paused) call.resume();
        paused = stop;
      };
      const cancelled = cancellation(call)();
      const peer = callerAddress(call);
      call.on('drain', () => {
        writeBlocked = false;
        flow();
      });
      const answer = (res: PublishStreamResponse__Input, started: number) => {
        outstanding--;
        if (!call.cancelled && !call.write(res)) writeBlocked = true;
        served('PublishStream', started);
        flow();
        if (ended && outstanding === 0) call.end();
      };
      call.on('data', (req: PublishStreamRequest) => {
        const started = performance.now();
        const requestId = req.requestId;
        outstanding++;
        if (!req.publish) {
          const err = new HeraldError('INVALID_REQUEST', 'publish is required', { field: 'publish' });
          answer({ requestId, error: toRpcStatus(err) }, started);
          return;
        }
        const publish = req.publish;
        const ctx = { topic: publish.topic, metadata: call.metadata, peer, cancelled };
        router
          .run(ctx, () => publisher.publish({ ...publishInput(publish, peer), whenFull: 'take' }), undefined)
          .then(
            (out) => answer({ requestId, ok: publishResponse(out) }, started),
            (err: unknown) => {
              fail('PublishStream', err);
              answer({ requestId, error: toRpcStatus(err) }, started);
            },
          );
        // After the request took its bytes (synchronously, for a local publish).
        flow();
      });
      call.on('end', () => {
        ended = true;
        if (outstanding === 0) call.end();
      });
    },

    Pull(call, callback) {
      const req = call.request;
      const input = {
        group: req.group,
        topic: req.topic,
        partition: req.partition,
        maxMessages: req.maxMessages,
        maxWaitMs: req.maxWaitMs,
        ackTimeoutMs: req.ackTimeoutMs,
        consumer: claim(req),
      };
      const ref = { topic: req.topic, partition: req.partition };
      routed(
        'Pull',
        call,
        callback,
        (cancelled) =>
          delivery.pull(input, cancelled()).then((taken) => new StoredDeliveries(ref, taken, 'messages')),
        (c, md, cb) => c.Pull(req, md, cb),
      );
    },

    Subscribe(call) {
      const credits = { available: 0, signal: new Signal() };
      const stopped = new AbortController();
      const cancelled = AbortSignal.any([cancellation(call)(), stopped.signal]);
      let s: SubscribeStart | undefined;
      const end = (err?: unknown) => {
        if (err !== undefined) call.emit('error', fail('Subscribe', err));
        else call.end();
      };
      const refuse = (message: string) => end(new HeraldError('INVALID_REQUEST', message, { field: 'kind' }));
      call.on('data', (req: SubscribeRequest) => {
        if (req.kind === 'credits') {
          credits.available += req.credits ?? 0;
          credits.signal.notify();
          return;
        }
        if (req.kind === 'ack') {
          if (!s) return refuse('the first Subscribe request must be start');
          const offsets = req.ack?.offsets ?? [];
          const { group, topic, partition } = s;
          delivery.ack(group, topic, partition, offsets, claim(s)).catch((err: unknown) => {
            fail('Subscribe', err);
            if (!call.cancelled) call.write({ ackRefused: { offsets, status: toRpcStatus(err) } });
          });
          return;
        }
        if (req.kind !== 'start' || !req.start || s) {
          refuse('the first Subscribe request must be start, and only the first');
          return;
        }
        s = req.start;
        credits.available += s.credits;
        const maxBatch = Math.min(s.maxBatch, MAX_SUBSCRIBE_BATCH);
        // Body bytes this stream wrote that its transport has not flushed (delivery.unsent).
        let unsent = 0;
        const write = (res: SubscribeResponse__Input, bytes: number): boolean => {
          if (cancelled.aborted) return false;
          unsent += bytes;
          delivery.unsent.take(bytes);
          return call.write(res, () => {
            // A cancelled call drops its writes without calling back: released at the end.
            if (cancelled.aborted) return;
            unsent -= bytes;
            delivery.unsent.release(bytes);
          });
        };
        cancelled.addEventListener(
          'abort',
          () => {
            delivery.unsent.release(unsent);
            unsent = 0;
          },
          { once: true },
        );
        const sink = {
          send: async (ds: Delivered[], ref: PartitionRef) => {
            let room = true;
            if (maxBatch <= 1)
              for (const d of ds)
                room = write(new StoredDeliveries(ref, [d], 'delivery'), d.message.body.length);
            else
              for (const batch of responseBatches(ds, maxBatch, MAX_SUBSCRIBE_BATCH_BYTES))
                room = write(new StoredDeliveries(ref, batch, 'deliveries'), bodyBytes(batch));
            if (!room && !cancelled.aborted)
              // Wait for the transport, or stop waiting when the call ends (an ended call
              // refuses writes and never drains).
              await new Promise<void>((resolve) => {
                const done = () => {
                  call.off('drain', done);
                  cancelled.removeEventListener('abort', done);
                  resolve();
                };
                call.once('drain', done);
                cancelled.addEventListener('abort', done, { once: true });
              });
            await delivery.unsent.room(() => unsent, cancelled);
          },
        };
        const start = {
          group: s.group,
          topic: s.topic,
          partition: s.partition,
          ackTimeoutMs: s.ackTimeoutMs,
          consumer: claim(s),
        };
        router
          .run(
            { topic: s.topic, metadata: call.metadata, peer: callerAddress(call), cancelled },
            () => delivery.subscribe(start, credits, sink, cancelled),
            undefined,
          )
          .then(
            () => end(),
            (err: unknown) => end(err),
          );
      });
      // The client half-closing ends the subscription.
      call.on('end', () => {
        if (s) stopped.abort();
        else call.end();
      });
    },

    Ack(call, callback) {
      const req = call.request;
      routed(
        'Ack',
        call,
        callback,
        () =>
          delivery
            .ack(req.group, req.topic, req.partition, req.offsets, claim(req))
            .then((committed) => ({ committedOffset: committed })),
        (c, md, cb) => c.Ack(req, md, cb),
      );
    },

    Nack(call, callback) {
      const req = call.request;
      routed(
        'Nack',
        call,
        callback,
        () =>
          delivery
            .nack(req.group, req.topic, req.partition, req.offsets, req.delayMs, req.error, claim(req))
            .then(() => ({})),
        (c, md, cb) => c.Nack(req, md, cb),
      );
    },
  };
}

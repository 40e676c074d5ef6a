// The shared server edge over real sockets on loopback: the interceptor chain in order, refusals
// (also after an await) reaching the client with their code and reason, a running stream ended
// by an interceptor, per-RPC metrics, message limits, health per service, and the channel
// factory on the client side. Needs no environment (HERALD_ENV_PARTS=none runs it alone).
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { Registry } from 'prom-client';
import { HeraldError, readErrorInfo } from '../../../common/errors';
import { Channels, channelOptions, CHANNEL_DEFAULTS } from '../../../common/grpc/channels';
import type { ClientClass } from '../../../common/grpc/channels';
import type { CallContext, Interceptor } from '../../../common/grpc/interceptors';
import { rpcMetrics } from '../../../common/grpc/rpc-metrics';
import { serverOptions, startGrpcServer } from '../../../common/grpc/server';
import type { GrpcServer, ServerSetup } from '../../../common/grpc/server';
import { unary } from '../../../common/grpc/unary';
import { silentLogger } from '../../../common/logger';
import { loadProtos } from '../../../proto/load';
import { waitFor } from '../wait';
import type { SubscribeRequest } from '../../../proto/gen/herald/v1/SubscribeRequest';
import type { SubscribeRequest__Input } from '../../../proto/gen/herald/v1/SubscribeRequest';

interface HealthResponse {
  status: string | number;
}
type HealthCallback = (err: grpc.ServiceError | null, res: HealthResponse) => void;
interface HealthClient extends grpc.Client {
  Check(req: { service: string }, callback: HealthCallback): grpc.ClientUnaryCall;
  Check(req: { service: string }, metadata: grpc.Metadata, callback: HealthCallback): grpc.ClientUnaryCall;
  Watch(req: { service: string }): grpc.ClientReadableStream<HealthResponse>;
}
const Health = grpc.makeGenericClientConstructor(
  healthService,
  'Health',
) as unknown as ClientClass<HealthClient>;
const v1 = loadProtos().grpc.herald.v1;

/** A Herald service with only the handlers a test gives (the rest answer UNIMPLEMENTED). */
function service(name: 'Broker' | 'Admin', handlers: grpc.UntypedServiceImplementation) {
  return { name: `herald.v1.${name}`, definition: v1[name].service, handlers };
}

function check(client: HealthClient, service: string): Promise<HealthResponse> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

function failed(p: Promise<unknown>): Promise<grpc.ServiceError> {
  return p.then(
    () => {
      throw new Error('the call succeeded');
    },
    (err: grpc.ServiceError) => err,
  );
}

/** Calls each interceptor's hooks into `log`, as `name:hook`. */
function recording(name: string, log: string[], extra: Partial<Interceptor> = {}): Interceptor {
  return {
    name,
    admit: (ctx) => {
      log.push(`${name}:admit`);
      return extra.admit?.(ctx);
    },
    message: (ctx, m) => {
      log.push(`${name}:message`);
      return extra.message?.(ctx, m);
    },
    ended: (ctx, code) => {
      log.push(`${name}:ended:${grpc.status[code]}`);
      extra.ended?.(ctx, code);
    },
  };
}

describe('server edge', () => {
  const servers: GrpcServer[] = [];
  const channels = new Channels();
  afterAll(async () => {
    channels.close();
    await Promise.all(servers.map((s) => s.close(1_000)));
  });

  async function serve(setup: Partial<ServerSetup>): Promise<{ server: GrpcServer; health: HealthClient }> {
    const server = await startGrpcServer({
      listen: '127.0.0.1:0',
      services: [],
      reflection: loadProtos().reflection,
      ...setup,
    });
    servers.push(server);
    server.setServing(true);
    return { server, health: channels.client(Health, server.address) };
  }

  test('interceptors run in order, share the identity, and hear every end', async () => {
    const log: string[] = [];
    const seen: { identity?: string; request?: unknown; service?: string; method?: string } = {};
    const { health } = await serve({
      interceptors: [
        recording('authn', log, {
          admit: (ctx) => {
            ctx.identity = { name: `peer:${ctx.metadata.get('x-user')[0] as string}`, method: 'test' };
          },
        }),
        recording('authz', log, {
          admit: (ctx) => {
            seen.identity = ctx.identity?.name;
            seen.request = ctx.request;
            seen.service = ctx.service;
            seen.method = ctx.method;
          },
        }),
      ],
    });
    const metadata = new grpc.Metadata();
    metadata.set('x-user', 'alice');
    const res = await new Promise<HealthResponse>((resolve, reject) =>
      health.Check({ service: '' }, metadata, (err, r) => (err ? reject(err) : resolve(r))),
    );
    expect(res.status).toBe('SERVING');
    expect(log).toEqual(['authn:admit', 'authz:admit', 'authn:ended:OK', 'authz:ended:OK']);
    expect(seen).toEqual({
      identity: 'peer:alice',
      request: { service: '' },
      service: 'grpc.health.v1.Health',
      method: 'Check',
    });
  });

  test('a refusal reaches the client with its code and reason; later interceptors do not run', async () => {
    const log: string[] = [];
    const { health } = await serve({
      interceptors: [
        recording('first', log, {
          admit: () => {
            throw new HeraldError('INVALID_REQUEST', 'refused by the test', { field: 'service' });
          },
        }),
        recording('second', log),
      ],
    });
    const err = await failed(check(health, ''));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('refused by the test');
    expect(readErrorInfo(err)).toMatchObject({ reason: 'INVALID_REQUEST', metadata: { field: 'service' } });
    expect(log).toEqual(['first:admit', 'first:ended:INVALID_ARGUMENT', 'second:ended:INVALID_ARGUMENT']);
  });

  test('an asynchronous refusal (after an await) refuses before the handler runs', async () => {
    let handled = 0;
    const lookups: string[] = [];
    const { server } = await serve({
      services: [
        service('Admin', {
          GetLag: unary(silentLogger, 'GetLag', () => {
            handled++;
            return { partitions: [] };
          }),
        }),
      ],
      interceptors: [
        {
          name: 'slow-authn',
          admit: async (ctx) => {
            // Stands for a TokenReview: an answer that arrives later, on another tick.
            await new Promise((resolve) => setImmediate(resolve));
            const group = (ctx.request as { group: string }).group;
            lookups.push(group);
            if (group !== 'allowed') throw new HeraldError('GROUP_NOT_FOUND', `no group ${group}`);
          },
        },
      ],
    });
    const admin = channels.client(v1.Admin, server.address);
    const lag = (group: string) =>
      new Promise((resolve, reject) =>
        admin.GetLag({ group, topic: 't' }, (err, res) => (err ? reject(err) : resolve(res))),
      );
    const err = await failed(lag('other'));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(readErrorInfo(err)?.reason).toBe('GROUP_NOT_FOUND');
    expect(handled).toBe(0);
    await expect(lag('allowed')).resolves.toEqual({ partitions: [] });
    expect(handled).toBe(1);
    expect(lookups).toEqual(['other', 'allowed']);
  });

  test('an interceptor ends a running server stream with its error', async () => {
    const running: CallContext[] = [];
    const ended: string[] = [];
    const { health } = await serve({
      interceptors: [
        {
          name: 'watch-registry',
          admit: (ctx) => {
            running.push(ctx);
            ctx.ended.addEventListener('abort', () => ended.push(ctx.method));
          },
        },
      ],
    });
    const stream = health.Watch({ service: '' });
    const first = await new Promise<HealthResponse>((resolve) => stream.once('data', resolve));
    expect(first.status).toBe('SERVING');
    const closed = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    expect(running).toHaveLength(1);
    running[0].end(
      new HeraldError('LEASE_EXPIRED', 'the rule that allowed this was removed', { rule: 'r1' }),
    );
    const err = await closed;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(readErrorInfo(err)).toMatchObject({ reason: 'LEASE_EXPIRED', metadata: { rule: 'r1' } });
    expect(ended).toEqual(['Watch']);
    expect(running[0].ended.aborted).toBe(true);
    // Ending an ended call does nothing.
    running[0].end(new HeraldError('INTERNAL_ERROR', 'late'));
  });

  test('ending a running bidi stream cancels it for its handler', async () => {
    const running: CallContext[] = [];
    let handlerCancelled = false;
    const { server } = await serve({
      services: [
        service('Broker', {
          Subscribe: (call: grpc.ServerDuplexStream<SubscribeRequest, unknown>) => {
            call.on('cancelled', () => (handlerCancelled = true));
            call.on('data', () => call.write({}));
          },
        }),
      ],
      interceptors: [{ name: 'registry', admit: (ctx) => void running.push(ctx) }],
    });
    const stream = channels.client(v1.Broker, server.address).Subscribe();
    const closed = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    stream.write({ credits: 1 });
    await new Promise((resolve) => stream.once('data', resolve));
    running[0].end(new HeraldError('LEASE_EXPIRED', 'revoked'));
    expect(readErrorInfo(await closed)?.reason).toBe('LEASE_EXPIRED');
    await waitFor('the handler to see the call cancelled', () =>
      Promise.resolve(handlerCancelled ? true : undefined),
    );
  });

  test('a client cancelling a stream ends it for the interceptors as CANCELLED', async () => {
    const codes: string[] = [];
    const { health } = await serve({
      interceptors: [{ name: 'ends', ended: (_ctx, code) => codes.push(grpc.status[code]) }],
    });
    const stream = health.Watch({ service: '' });
    await new Promise((resolve) => stream.once('data', resolve));
    stream.on('error', () => undefined);
    stream.cancel();
    await waitFor('the cancel to reach the interceptors', () =>
      Promise.resolve(codes.length > 0 ? true : undefined),
    );
    expect(codes).toEqual(['CANCELLED']);
  });

  test('message hooks see each request of a bidi stream before the handler; a refusal ends it', async () => {
    const handled: string[] = [];
    const { server } = await serve({
      services: [
        service('Broker', {
          Subscribe: (call: grpc.ServerDuplexStream<SubscribeRequest, unknown>) => {
            call.on('data', (req: SubscribeRequest) => handled.push(req.kind ?? ''));
            call.on('end', () => call.end());
          },
        }),
      ],
      interceptors: [
        {
          name: 'topic-authz',
          message: async (_ctx, m) => {
            await Promise.resolve();
            const req = m as SubscribeRequest;
            if (req.kind === 'start' && req.start?.topic === 'secret')
              throw new HeraldError('TOPIC_NOT_FOUND', 'no topic secret', { topic: 'secret' });
          },
        },
      ],
    });
    const broker = channels.client(v1.Broker, server.address);
    const start = (topic: string): SubscribeRequest__Input => ({
      start: { group: 'g', topic, partition: 0, credits: 1, consumerId: 'c', leaseEpoch: 0, ackTimeoutMs: 0 },
    });
    const refused = broker.Subscribe();
    const err = new Promise<grpc.ServiceError>((resolve) => refused.on('error', resolve));
    refused.write(start('secret'));
    expect(readErrorInfo(await err)?.reason).toBe('TOPIC_NOT_FOUND');
    expect(handled).toEqual([]);

    const allowed = broker.Subscribe();
    const done = new Promise<void>((resolve, reject) => {
      allowed.on('error', reject);
      allowed.on('status', (s: grpc.StatusObject) =>
        s.code === grpc.status.OK ? resolve() : reject(new Error(s.details)),
      );
      allowed.on('data', () => undefined);
    });
    allowed.write(start('open'));
    allowed.write({ credits: 5 });
    allowed.end();
    await done;
    expect(handled).toEqual(['start', 'credits']);
  });

  test('per-RPC metrics count calls by service, method and code, with their latency', async () => {
    const registry = new Registry();
    const { health } = await serve({
      interceptors: [
        rpcMetrics(registry),
        {
          name: 'refuse-unknown',
          admit: (ctx) => {
            if ((ctx.request as { service: string }).service === 'nope')
              throw new HeraldError('INVALID_REQUEST', 'no such service');
          },
        },
      ],
    });
    await check(health, '');
    await check(health, '');
    await failed(check(health, 'nope'));
    // A second server on the same registry shares the metrics rather than failing to register.
    rpcMetrics(registry);
    const handled = await registry.getSingleMetric('herald_grpc_server_handled_total')!.get();
    const count = (code: string) =>
      handled.values.find(
        (v) =>
          v.labels.method === 'Check' &&
          v.labels.service === 'grpc.health.v1.Health' &&
          v.labels.code === code,
      )?.value;
    expect(count('OK')).toBe(2);
    expect(count('INVALID_ARGUMENT')).toBe(1);
    const latency = await registry.getSingleMetric('herald_grpc_server_handling_seconds')!.get();
    const calls = latency.values.find(
      (v) => (v as { metricName?: string }).metricName === 'herald_grpc_server_handling_seconds_count',
    );
    expect(calls).toMatchObject({ value: 3, labels: { service: 'grpc.health.v1.Health', method: 'Check' } });
  });

  test('a message over the server limit is refused with RESOURCE_EXHAUSTED', async () => {
    const { health } = await serve({ limits: { maxReceiveMessageBytes: 1024 } });
    const err = await failed(check(health, 'x'.repeat(2048)));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Under the limit the same server answers.
    await expect(check(health, '')).resolves.toEqual({ status: 'SERVING' });
  });

  test('keepalive, connection age and limits reach grpc-js; the chain is one interceptor', () => {
    const opts = serverOptions({
      keepalive: { timeMs: 1_000, timeoutMs: 500, maxConnectionAgeMs: 60_000 },
      limits: { maxSendMessageBytes: 2048 },
      interceptors: [{ name: 'a' }, { name: 'b' }],
    });
    expect(opts).toMatchObject({
      'grpc.keepalive_time_ms': 1_000,
      'grpc.keepalive_timeout_ms': 500,
      'grpc.max_connection_age_ms': 60_000,
      'grpc.max_send_message_length': 2048,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    expect(opts.interceptors).toHaveLength(1);
    expect(serverOptions({}).interceptors).toEqual([]);
    expect(channelOptions(CHANNEL_DEFAULTS)).toMatchObject({
      'grpc.keepalive_permit_without_calls': 1,
      'grpc-node.flow_control_window': CHANNEL_DEFAULTS.flowControlWindowBytes,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
  });

  test('health is kept per service', async () => {
    const { server, health } = await serve({
      services: [service('Admin', {})],
      health: { '': 'SERVING' },
    });
    server.setServing(false);
    server.setServing(true, '');
    expect((await check(health, '')).status).toBe('SERVING');
    expect((await check(health, 'herald.v1.Admin')).status).toBe('NOT_SERVING');
    server.setServing(true, 'herald.v1.Admin');
    expect((await check(health, 'herald.v1.Admin')).status).toBe('SERVING');
    const unknown = await failed(check(health, 'herald.v1.Nothing'));
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
  });

  test('the channel factory shares one channel per address and closes them', async () => {
    const { server } = await serve({});
    const own = new Channels();
    const a = own.client(Health, server.address);
    const b = own.client(v1.Admin, server.address);
    expect(own.client(Health, server.address)).toBe(a);
    expect(a.getChannel()).toBe(b.getChannel());
    await expect(check(a, '')).resolves.toEqual({ status: 'SERVING' });
    own.close();
    const after = own.client(Health, server.address);
    expect(after).not.toBe(a);
    await expect(check(after, '')).resolves.toEqual({ status: 'SERVING' });
    own.close();
  });
});

// The gRPC server every Herald process runs (brokers and the meta-server): its services plus
// grpc.health.v1 with a status per service and server reflection (so grpcurl works with no
// .proto files at hand), keepalive and message limits, the credentials it is given, and the
// interceptor chain (interceptors.ts) in front of every handler.
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { ServingStatus } from 'grpc-health-check';
import type { PackageDefinition } from '@grpc/proto-loader';
import { grpcInterceptors } from './interceptors';
import type { InBandRefusals, Interceptor } from './interceptors';

export interface ServedService {
  /** The full name, e.g. 'herald.v1.Broker': its key in grpc.health.v1. */
  name: string;
  definition: grpc.ServiceDefinition;
  handlers: grpc.UntypedServiceImplementation;
}

export interface ServerLimits {
  /** Largest request message accepted; larger ones fail with RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  /** Largest response message sent. */
  maxSendMessageBytes: number;
}

/**
 * grpc-js servers do not police client pings (no too_many_pings GOAWAY), so clients may ping
 * without calls in flight; the channel factory (channels.ts) does.
 */
export interface ServerKeepalive {
  /** Idle time after which the server pings a connection... */
  timeMs: number;
  /** ...and how long it waits for the answer before closing the connection. */
  timeoutMs: number;
  /**
   * A connection is sent GOAWAY after this long, so that clients behind a Service spread
   * over brokers that started later; calls in flight run to their end.
   */
  maxConnectionAgeMs: number;
}

export const SERVER_DEFAULTS: { limits: ServerLimits; keepalive: ServerKeepalive } = {
  // A publish batch is bounded far below this (publish.maxBatchBytes); this bounds what a
  // connection can make the server buffer before any handler runs.
  limits: { maxReceiveMessageBytes: 64 * 1024 * 1024, maxSendMessageBytes: 64 * 1024 * 1024 },
  keepalive: { timeMs: 60_000, timeoutMs: 20_000, maxConnectionAgeMs: 30 * 60_000 },
};

export interface ServerSetup {
  /** host:port; port 0 picks one. */
  listen: string;
  services: ServedService[];
  /** The proto files served by reflection (loadProtos().reflection or loadMetaProto()'s). */
  reflection: PackageDefinition;
  /** In order; the first sees a call first. */
  interceptors?: Interceptor[];
  /** Stream methods whose refused messages are answered in band (interceptors.ts). */
  inBandRefusals?: InBandRefusals;
  /**
   * Called once at bind (a factory, so that TLS can hand credentials that watch their
   * certificate files); insecure when unset.
   */
  credentials?: () => grpc.ServerCredentials;
  limits?: Partial<ServerLimits>;
  keepalive?: Partial<ServerKeepalive>;
  /** Health at start, by service name ('' is the whole server); NOT_SERVING when unset. */
  health?: Record<string, ServingStatus>;
}

export interface GrpcServer {
  server: grpc.Server;
  /** host:port actually bound. */
  address: string;
  /** Readiness of one service, or with no name of '' (the whole server) and every service. */
  setServing(serving: boolean, service?: string): void;
  /** Stops accepting calls, waits for running ones up to `graceMs`, then cancels them. */
  close(graceMs: number): Promise<void>;
}

/** The grpc-js options of a setup. Pure. */
export function serverOptions(
  setup: Pick<ServerSetup, 'interceptors' | 'inBandRefusals' | 'limits' | 'keepalive'>,
): grpc.ServerOptions {
  const limits = { ...SERVER_DEFAULTS.limits, ...setup.limits };
  const keepalive = { ...SERVER_DEFAULTS.keepalive, ...setup.keepalive };
  return {
    'grpc.max_receive_message_length': limits.maxReceiveMessageBytes,
    'grpc.max_send_message_length': limits.maxSendMessageBytes,
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.max_connection_age_ms': keepalive.maxConnectionAgeMs,
    interceptors: grpcInterceptors(setup.interceptors ?? [], setup.inBandRefusals),
  };
}

export async function startGrpcServer(setup: ServerSetup): Promise<GrpcServer> {
  const server = new grpc.Server(serverOptions(setup));
  for (const s of setup.services) server.addService(s.definition, s.handlers);
  const initial: Record<string, ServingStatus> = { '': 'NOT_SERVING' };
  for (const s of setup.services) initial[s.name] = 'NOT_SERVING';
  const health = new HealthImplementation({ ...initial, ...setup.health });
  health.addToServer(server);
  new ReflectionService(setup.reflection).addToServer(server);
  const credentials = setup.credentials?.() ?? grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(setup.listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  const host = setup.listen.slice(0, setup.listen.lastIndexOf(':'));
  return {
    server,
    address: `${host}:${port}`,
    setServing(serving, service) {
      const status: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
      if (service !== undefined) return health.setStatus(service, status);
      health.setStatus('', status);
      for (const s of setup.services) health.setStatus(s.name, status);
    },
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs).unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

// The gRPC server every Herald process runs: its services plus grpc.health.v1 and server
// reflection (so grpcurl works with no .proto files at hand).
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { ServingStatus } from 'grpc-health-check';
import { loadProtos } from '../../proto/load';

export interface GrpcServer {
  server: grpc.Server;
  /** host:port actually bound. */
  address: string;
  /** Readiness for '' (the whole server) and every named service. */
  setServing(serving: boolean): void;
}

export async function startGrpcServer(
  listen: string,
  services: {
    definition: grpc.ServiceDefinition;
    handlers: grpc.UntypedServiceImplementation;
    name: string;
  }[],
  edge: { credentials: grpc.ServerCredentials; interceptors: grpc.ServerInterceptor[] } = {
    credentials: grpc.ServerCredentials.createInsecure(),
    interceptors: [],
  },
): Promise<GrpcServer> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    interceptors: edge.interceptors,
  });
  for (const s of services) server.addService(s.definition, s.handlers);
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(loadProtos().reflection).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, edge.credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  const host = listen.slice(0, listen.lastIndexOf(':'));
  return {
    server,
    address: `${host}:${port}`,
    setServing(serving) {
      const status: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      for (const s of services) health.setStatus(s.name, status);
    },
  };
}

// One gRPC channel per broker address (the shared channel factory), shared by the Broker and
// Admin stubs, and unary calls as promises that fail with typed errors (common/errors.ts).
import type * as grpc from '@grpc/grpc-js';
import { callError } from '../common/errors';
import { Channels } from '../common/grpc/channels';
import { loadProtos } from '../proto/load';
import type { AdminClient } from '../proto/gen/herald/v1/Admin';
import type { BrokerClient } from '../proto/gen/herald/v1/Broker';

export interface BrokerStubs {
  address: string;
  broker: BrokerClient;
  admin: AdminClient;
}

export type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

export class BrokerConnections {
  private readonly channels = new Channels();

  get(address: string): BrokerStubs {
    const v1 = loadProtos().grpc.herald.v1;
    return {
      address,
      broker: this.channels.client(v1.Broker, address),
      admin: this.channels.client(v1.Admin, address),
    };
  }

  close(): void {
    this.channels.close();
  }
}

/**
 * A unary call as a promise with a deadline, rejecting with a HeraldError or UnavailableError:
 * unary(address, timeoutMs, (options, cb) => stub.Publish(req, options, cb)).
 */
export function unary<Res>(
  address: string,
  timeoutMs: number,
  invoke: (options: grpc.CallOptions, callback: Callback<Res>) => unknown,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke({ deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err || res === undefined) reject(callError(err ?? new Error('empty response'), address));
      else resolve(res);
    });
  });
}

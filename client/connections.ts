// One gRPC channel per broker address, shared by the Broker and Admin stubs, and unary calls as
// promises that fail with typed errors (client/errors.ts).
import type * as grpc from '@grpc/grpc-js';
import { callError } from '../common/errors';
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
  private readonly stubs = new Map<string, BrokerStubs>();

  constructor(private readonly credentials: grpc.ChannelCredentials) {}

  get(address: string): BrokerStubs {
    let s = this.stubs.get(address);
    if (!s) {
      const v1 = loadProtos().grpc.herald.v1;
      const broker = new v1.Broker(address, this.credentials);
      // The Admin stub reuses the Broker stub's channel.
      const admin = new v1.Admin(address, this.credentials, {
        channelOverride: broker.getChannel(),
      });
      s = { address, broker, admin };
      this.stubs.set(address, s);
    }
    return s;
  }

  close(): void {
    for (const s of this.stubs.values()) s.broker.close();
    this.stubs.clear();
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

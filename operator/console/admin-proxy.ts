// Admin calls on behalf of a console caller: to a broker that holds a partition of the topic,
// with the caller's own `authorization` header as the call's metadata, so the broker's
// authentication and access rules decide, exactly as for the CLI. The channel trusts the
// operator's CA but presents no client certificate: the operator's certificate would make the
// broker take the call for a Herald server's and skip its rules.
import * as grpc from '@grpc/grpc-js';
import { callError, HeraldError } from '../../common/errors';
import { Channels } from '../../common/grpc/channels';
import { channelCredentials } from '../../common/grpc/credentials';
import { loadProtos } from '../../proto/load';
import type { AdminClient } from '../../proto/gen/herald/v1/Admin';
import type { PartitionLag } from '../../proto/gen/herald/v1/PartitionLag';
import type { GetLagResponse } from '../../proto/gen/herald/v1/GetLagResponse';

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

export class AdminProxy {
  private readonly channels: Channels;

  /** `caFile`: whom to trust (the operator's CA); plaintext channels when undefined. */
  constructor(
    caFile: string | undefined,
    private readonly timeoutMs = 10_000,
  ) {
    this.channels = new Channels({
      credentials: () => channelCredentials(caFile ? { tls: { caFile } } : undefined),
    });
  }

  /** One unary Admin call at `address` as the caller whose header this is. */
  call<Res>(
    address: string,
    authorization: string,
    invoke: (
      admin: AdminClient,
      metadata: grpc.Metadata,
      options: grpc.CallOptions,
      cb: Callback<Res>,
    ) => unknown,
  ): Promise<Res> {
    const admin = this.channels.client(loadProtos().grpc.herald.v1.Admin, address);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', authorization);
    return new Promise((resolve, reject) =>
      invoke(admin, metadata, { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err || res === undefined
          ? reject(callError(err ?? new Error('empty response'), address))
          : resolve(res),
      ),
    );
  }

  /** GetLag asked of every owner and merged (each answers for the partitions it holds). */
  async lag(
    owners: string[],
    authorization: string,
    group: string,
    topic: string,
    consumer = '',
  ): Promise<PartitionLag[]> {
    if (owners.length === 0)
      throw new HeraldError('NOT_PARTITION_OWNER', `no broker holds a partition of ${topic} yet`, { topic });
    const byKey = new Map<string, PartitionLag>();
    for (const address of owners) {
      const res = await this.call<GetLagResponse>(address, authorization, (a, m, o, cb) =>
        a.GetLag({ group, topic }, m, o, cb),
      );
      for (const p of res.partitions) byKey.set(`${p.consumer}\u0000${p.partition}`, p);
    }
    return [...byKey.values()]
      .filter((p) => consumer === '' || p.consumer === consumer)
      .sort((a, b) =>
        a.consumer < b.consumer ? -1 : a.consumer > b.consumer ? 1 : a.partition - b.partition,
      );
  }

  close(): void {
    this.channels.close();
  }
}

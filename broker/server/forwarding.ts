// Forwarding: a broker that gets a call for a partition it does not own passes it to the owner
// (routes from the meta-server, cached, refreshed when the owner says NOT_PARTITION_OWNER), so
// a client pointed at any broker just works. A forwarded call carries the header
// `herald-forwarded-by` and is never forwarded again: a broker that cannot serve it answers
// NOT_PARTITION_OWNER with the owner it knows, and so does one that knows no route.
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../proto/load';
import type { BrokerClient } from '../../proto/gen/herald/v1/Broker';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { PartitionRoute, RouteTable } from '../lease/route-table';
import { fromServiceError } from '../../common/errors';
import { Channels } from '../../common/grpc/channels';

export const FORWARDED_BY = 'herald-forwarded-by';
/** The original caller's address on a forwarded call (traced as the producer). */
export const FORWARDED_FOR = 'herald-forwarded-for';

/** The address of whoever made the call: the original caller's when it was forwarded. */
export function callerAddress(call: { getPeer(): string; metadata: grpc.Metadata }): string {
  const original = call.metadata.get(FORWARDED_FOR)[0];
  return typeof original === 'string' && original !== '' ? original : call.getPeer();
}

export type Remote<T> = (
  client: BrokerClient,
  metadata: grpc.Metadata,
  callback: (err: grpc.ServiceError | null, res?: T) => void,
) => grpc.ClientUnaryCall;

export interface CallContext {
  topic: string;
  metadata: grpc.Metadata;
  /** The caller's address (callerAddress), passed on when the call is forwarded. */
  peer: string;
  cancelled: AbortSignal;
}

/** Runs a call here, or where its partition lives. */
export interface CallRouter {
  /** `remote` undefined: the call cannot be forwarded (a stream); refuse with the owner instead. */
  run<T>(ctx: CallContext, local: () => Promise<T>, remote: Remote<T> | undefined): Promise<T>;
  close(): void;
}

/** Standalone mode: everything is local. */
export const LOCAL_ONLY: CallRouter = { run: (_ctx, local) => local(), close: () => undefined };

/**
 * The broker to forward to: the partition's route (from NOT_PARTITION_OWNER metadata), or for a
 * publish without a partition any broker holding one; never this broker. Pure.
 */
export function forwardTarget(
  routes: PartitionRoute[],
  partition: string | undefined,
  self: string,
  pick: (n: number) => number = (n) => Math.floor(Math.random() * n),
): PartitionRoute | undefined {
  const usable = (r: PartitionRoute | undefined) => r !== undefined && r.address !== '' && r.address !== self;
  if (partition !== undefined) {
    const r = routes[Number(partition)];
    return usable(r) ? r : undefined;
  }
  const owners = routes.filter(usable);
  return owners.length > 0 ? owners[pick(owners.length)] : undefined;
}

export class Forwarder implements CallRouter {
  private readonly channels = new Channels();

  constructor(
    private readonly routes: RouteTable,
    private readonly self: { id: string; address: string },
    private readonly logger: Logger,
  ) {}

  async run<T>(ctx: CallContext, local: () => Promise<T>, remote: Remote<T> | undefined): Promise<T> {
    const forwarded = ctx.metadata.get(FORWARDED_BY).length > 0;
    let refreshed = false;
    for (;;) {
      let err: HeraldError;
      try {
        return await local();
      } catch (e) {
        if (!(e instanceof HeraldError)) throw e;
        err = e;
      }
      // A topic this broker has not met yet: learn it from the meta-server, then try again.
      if (err.reason === 'TOPIC_NOT_FOUND' && !refreshed) {
        await this.routes.refresh(ctx.topic);
        refreshed = true;
        continue;
      }
      if (err.reason !== 'NOT_PARTITION_OWNER') throw err;
      const { routes } = await this.routes.get(ctx.topic);
      const target = forwardTarget(routes, err.metadata.partition, this.self.address);
      if (target === undefined && !refreshed) {
        // The cached routes know no other owner: they may predate the assignment.
        await this.routes.refresh(ctx.topic);
        refreshed = true;
        continue;
      }
      if (forwarded || remote === undefined || target === undefined) throw withOwner(err, target?.address);
      try {
        return await this.forward(target.address, remote, ctx, err.metadata.partition);
      } catch (e) {
        if (e instanceof HeraldError && e.reason === 'NOT_PARTITION_OWNER' && !refreshed) {
          // The owner moved: ask the meta-server again, once.
          await this.routes.refresh(ctx.topic);
          refreshed = true;
          continue;
        }
        throw e;
      }
    }
  }

  close(): void {
    this.channels.close();
  }

  private forward<T>(address: string, remote: Remote<T>, ctx: CallContext, partition?: string): Promise<T> {
    const metadata = new grpc.Metadata();
    metadata.set(FORWARDED_BY, this.self.id);
    metadata.set(FORWARDED_FOR, ctx.peer);
    this.logger.debug('forwarding', { topic: ctx.topic, partition, to: address });
    return new Promise<T>((resolve, reject) => {
      const call = remote(this.client(address), metadata, (err, res) => {
        if (!err) return resolve(res!);
        reject(
          fromServiceError(err) ??
            new HeraldError(
              'NOT_PARTITION_OWNER',
              `the owner ${address} of ${ctx.topic}/${partition ?? '*'} did not answer: ${err.details}`,
              { topic: ctx.topic, ...(partition === undefined ? {} : { partition }), owner: address },
            ),
        );
      });
      ctx.cancelled.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  private client(address: string): BrokerClient {
    return this.channels.client(loadProtos().grpc.herald.v1.Broker, address);
  }
}

function withOwner(err: HeraldError, owner: string | undefined): HeraldError {
  if (owner === undefined || err.metadata.owner !== undefined) return err;
  return new HeraldError(
    'NOT_PARTITION_OWNER',
    `${err.message}; ${owner} does`,
    { ...err.metadata, owner },
    { cause: err },
  );
}

// The gRPC edge of the meta-server: herald.v1.Meta plus grpc.health.v1 and server reflection.
// It runs on every operator replica. Only the leader's has a MetaCore; the others answer
// NOT_LEADER with the leader's address (GetLeader answers everywhere). Errors become gRPC
// statuses in one place, the broker's toServiceError.
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import { toServiceError } from '../../common/grpc/status';
import type { MetaHandlers } from '../../proto/gen/herald/v1/Meta';
import type { LeaderInfo } from '../kube/leader-election';
import type { Checkpointer } from './checkpointer';
import type { MetaCore } from './meta-core';
import { loadMetaProto } from '../../proto/load';

export interface MetaState {
  core: MetaCore;
  checkpointer: Checkpointer;
}

export interface MetaServerOptions {
  listen: string;
  logger: Logger;
  /** The leader's state, or undefined on a follower (or a leader still restoring). */
  state: () => MetaState | undefined;
  leader: () => LeaderInfo | undefined;
  isLeader: () => boolean;
  /** The zone of a broker that did not give one: its pod's node's zone, or '' when unknown. */
  brokerZone?: (namespace: string, brokerId: string) => Promise<string>;
}

export interface MetaServer {
  address: string;
  setServing(serving: boolean): void;
  close(): Promise<void>;
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

export async function startMetaServer(options: MetaServerOptions): Promise<MetaServer> {
  const { logger } = options;
  const leaderState = (): MetaState => {
    const state = options.isLeader() ? options.state() : undefined;
    if (state) return state;
    const leader = options.leader();
    const address = leader && leader.identity !== '' && !options.isLeader() ? leader.address : '';
    throw new HeraldError(
      'NOT_LEADER',
      address ? `not the leader; the leader is ${address}` : 'not the leader',
      {
        leader: address,
      },
    );
  };
  const need = (field: string, value: string) => {
    if (value === '') throw new HeraldError('INVALID_REQUEST', `${field} must not be empty`, { field });
  };
  const unary =
    <Req, Res>(name: string, fn: (req: Req) => Promise<Res> | Res): Unary<Req, Res> =>
    (call, callback) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            const e = err instanceof HeraldError ? err : undefined;
            if (e?.reason !== 'NOT_LEADER') logger.debug('call failed', { rpc: name, err });
            callback(toServiceError(err));
          },
        );
    };
  const mutated = async (state: MetaState) => {
    try {
      await state.checkpointer.flush();
    } catch (err) {
      throw new HeraldError(
        'STORAGE_UNAVAILABLE',
        'could not checkpoint the assignment; retry',
        {},
        { cause: err },
      );
    }
  };

  const handlers: MetaHandlers = {
    AcquireBrokerLeases: unary('AcquireBrokerLeases', async (req) => {
      leaderState();
      need('namespace', req.namespace);
      need('pool', req.pool);
      need('broker.id', req.broker?.id ?? '');
      const b = req.broker ?? { id: '', address: '', zone: '', weight: 0 };
      const zone = b.zone || ((await options.brokerZone?.(req.namespace, b.id)) ?? '');
      // Leadership may have moved during the lookup: take the state only now.
      const s = leaderState();
      const r = s.core.acquireBrokerLeases(
        req.namespace,
        req.pool,
        { ...b, zone, weight: Math.max(1, b.weight) },
        Date.now(),
      );
      await mutated(s);
      return { leases: r.leases, revoked: r.revoked, renewIntervalMs: r.renewIntervalMs };
    }),
    RenewBrokerLeases: unary('RenewBrokerLeases', (req) => {
      const s = leaderState();
      need('broker_id', req.brokerId);
      return s.core.renewBrokerLeases(req.namespace, req.pool, req.brokerId, req.leases, Date.now());
    }),
    ReleaseBrokerLeases: unary('ReleaseBrokerLeases', (req) => {
      const s = leaderState();
      need('broker_id', req.brokerId);
      s.core.releaseBrokerLeases(req.namespace, req.pool, req.brokerId, req.leases, req.leaving, Date.now());
      return {};
    }),
    JoinGroup: unary('JoinGroup', async (req) => {
      const s = leaderState();
      need('consumer_id', req.consumerId);
      const r = s.core.joinGroup(req.namespace, req.group, req.consumerId, req.zone, Date.now());
      await mutated(s);
      return {
        assignment: {
          topic: r.topic,
          mode: r.mode,
          leases: r.leases,
          heartbeatIntervalMs: r.heartbeatIntervalMs,
        },
      };
    }),
    GroupHeartbeat: unary('GroupHeartbeat', async (req) => {
      const s = leaderState();
      need('consumer_id', req.consumerId);
      const r = s.core.heartbeat(req.namespace, req.group, req.consumerId, req.leases, Date.now());
      await mutated(s);
      const { lost, ...assignment } = r;
      return { assignment, lost };
    }),
    LeaveGroup: unary('LeaveGroup', async (req) => {
      const s = leaderState();
      s.core.leaveGroup(req.namespace, req.group, req.consumerId);
      await mutated(s);
      return {};
    }),
    GetRoutes: unary('GetRoutes', (req) => {
      const s = leaderState();
      const routes = s.core.routes(req.namespace, req.topic, Date.now());
      const t = s.core.topic(req.namespace, req.topic);
      return {
        topic: req.topic,
        routes,
        maxMessageBytes: t?.maxMessageBytes ?? 0,
        delay: t?.delay ?? false,
        retentionHours: t?.retentionHours ?? 0,
        priority: t?.priority ?? false,
        storage: t?.storage ?? 'mysql',
        rateLimit: t?.rateLimit ?? null,
      };
    }),
    GetConsumerLeases: unary('GetConsumerLeases', (req) => {
      const s = leaderState();
      need('group', req.group);
      return s.core.consumerLeasesOf(req.namespace, req.group, Date.now());
    }),
    ListTopics: unary('ListTopics', (req) => {
      const s = leaderState();
      need('namespace', req.namespace);
      return { topics: s.core.listTopics(req.namespace, Date.now()) };
    }),
    GetLeader: unary('GetLeader', () => {
      const leader = options.leader();
      return {
        leaderAddress: leader?.address ?? '',
        leaderIdentity: leader?.identity ?? '',
        isLeader: options.isLeader(),
      };
    }),
  };

  const loaded = loadMetaProto();
  const server = new grpc.Server();
  server.addService(loaded.grpc.herald.v1.Meta.service, handlers);
  // '' (the process) serves on every replica, since followers answer too (they redirect);
  // 'herald.v1.Meta' serves only on the leader once it has restored its state.
  const health = new HealthImplementation({ '': 'SERVING', 'herald.v1.Meta': 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(loaded.reflection).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listen, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
  return {
    address: `${host}:${port}`,
    setServing(serving) {
      health.setStatus('herald.v1.Meta', serving ? 'SERVING' : 'NOT_SERVING');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000).unref();
      }),
  };
}

// The meta-server's handlers of herald.v1.Meta, on the shared server setup (common/grpc/server.ts:
// health, reflection, the interceptor chain). It runs on every operator replica. Only the
// leader's has a MetaCore; the others answer NOT_LEADER with the leader's address (GetLeader
// answers everywhere).
import type { Registry } from 'prom-client';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import { startGrpcServer } from '../../common/grpc/server';
import { rpcMetrics } from '../../common/grpc/rpc-metrics';
import { unary as unaryOf } from '../../common/grpc/unary';
import type { MetaHandlers } from '../../proto/gen/herald/v1/Meta';
import type { ServerSecurity } from '../../common/security/server-security';
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
  /** Where the per-RPC metrics go. */
  registry: Registry;
  /** TLS credentials and the authentication/authorization interceptors (plaintext when unset). */
  security?: ServerSecurity;
}

export interface MetaServer {
  address: string;
  setServing(serving: boolean): void;
  close(): Promise<void>;
}

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
  const unary = <Req, Res>(name: string, fn: (req: Req) => Promise<Res> | Res) =>
    unaryOf<Req, Res>(logger, name, fn);
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
      s.core.reportPush(req.namespace, b.id, req.pushReports, Date.now());
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
    GetRoutes: unary('GetRoutes', (req) =>
      leaderState().core.getRoutes(req.namespace, req.topic, Date.now()),
    ),
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
  const server = await startGrpcServer({
    listen: options.listen,
    services: [{ name: 'herald.v1.Meta', definition: loaded.grpc.herald.v1.Meta.service, handlers }],
    reflection: loaded.reflection,
    interceptors: [rpcMetrics(options.registry), ...(options.security?.interceptors ?? [])],
    credentials: options.security?.credentials,
    // '' (the process) serves on every replica, since followers answer too (they redirect);
    // 'herald.v1.Meta' serves only on the leader once it has restored its state.
    health: { '': 'SERVING' },
  });
  return {
    address: server.address,
    setServing: (serving) => server.setServing(serving, 'herald.v1.Meta'),
    close: () => server.close(2_000),
  };
}

// What every RPC of herald.v1.Meta asks for. The broker-lease RPCs and GetConsumerLeases (a
// broker's check of who may ack) are for Herald servers only; group membership is `consume` on
// the group; routes and the leader are open to any authenticated caller (they name brokers'
// addresses, not messages); listing a namespace's topics is `admin` on every topic.
import type { MetaHandlers } from '../../proto/gen/herald/v1/Meta';
import { ALL } from '../../common/security/access-rules';
import type { AccessRequest } from '../../common/security/access-rules';
import { byPath } from '../../common/security/access-table';
import type { AccessByPath, AccessTable, Rpcs } from '../../common/security/access-table';

const SERVER_ONLY = [
  'AcquireBrokerLeases',
  'RenewBrokerLeases',
  'ReleaseBrokerLeases',
  'GetConsumerLeases',
] as const satisfies (keyof MetaHandlers)[];

const consumeGroup = (group: string): AccessRequest => ({
  operation: 'consume',
  resources: [{ kind: 'group', name: group || ALL }],
});

/** Every RPC not in SERVER_ONLY, so that a new RPC does not compile until it is in one or the other. */
export const META_ACCESS: AccessTable<Omit<Rpcs<MetaHandlers>, (typeof SERVER_ONLY)[number]>> = {
  JoinGroup: (r) => consumeGroup(r.group),
  GroupHeartbeat: (r) => consumeGroup(r.group),
  LeaveGroup: (r) => consumeGroup(r.group),
  GetRoutes: () => undefined,
  GetLeader: () => undefined,
  ListTopics: () => ({ operation: 'admin', resources: [{ kind: 'topic', name: ALL }] }),
};

export const META_ACCESS_BY_PATH: AccessByPath = byPath('herald.v1.Meta', META_ACCESS);

/** Method paths as the interceptors name them ("herald.v1.Meta/AcquireBrokerLeases"). */
export const META_SERVER_METHODS: ReadonlySet<string> = new Set(
  SERVER_ONLY.map((m) => `herald.v1.Meta/${m}`),
);

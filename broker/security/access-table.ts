// What every RPC of herald.v1.Broker and herald.v1.Admin asks for, read from its request. A
// request without a topic (a trace by message id, a dead-letter filter without a topic) asks
// for every topic: only a rule with `prefix: ""` covers it.
import type { BrokerHandlers } from '../../proto/gen/herald/v1/Broker';
import type { AdminHandlers } from '../../proto/gen/herald/v1/Admin';
import type { DeadLetterFilter } from '../../proto/gen/herald/v1/DeadLetterFilter';
import { ALL } from '../../common/security/access-rules';
import type { AccessRequest, Operation, Resource } from '../../common/security/access-rules';
import { byPath } from '../../common/security/access-table';
import type { AccessByPath, AccessTable } from '../../common/security/access-table';

const topic = (name: string | undefined): Resource => ({ kind: 'topic', name: name || ALL });
const group = (name: string | undefined): Resource => ({ kind: 'group', name: name || ALL });

const on = (operation: Operation, ...resources: Resource[]): AccessRequest => ({ operation, resources });

const deadLetters = (filter: DeadLetterFilter | null | undefined) =>
  on('admin', topic(filter?.topic), group(filter?.group));

export const BROKER_ACCESS: AccessTable<BrokerHandlers> = {
  Publish: (r) => on('publish', topic(r.topic)),
  PublishStream: (r) => on('publish', topic(r.publish?.topic)),
  Pull: (r) => on('consume', topic(r.topic), group(r.group)),
  Subscribe: (r) => (r.start ? on('consume', topic(r.start.topic), group(r.start.group)) : undefined),
  Ack: (r) => on('consume', topic(r.topic), group(r.group)),
  Nack: (r) => on('consume', topic(r.topic), group(r.group)),
};

export const ADMIN_ACCESS: AccessTable<AdminHandlers> = {
  GetLag: (r) => on('admin', topic(r.topic), group(r.group)),
  ListDeadLetters: (r) => deadLetters(r.filter),
  ReplayDeadLetters: (r) => deadLetters(r.filter),
  PurgeDeadLetters: (r) => deadLetters(r.filter),
  Trace: (r) => on('admin', topic(r.topic)),
  ResetOffsets: (r) => on('admin', topic(r.topic), group(r.group)),
  // It reads message bodies as a consumer does, but joins no group: consume on the topic alone.
  Peek: (r) => on('consume', topic(r.topic)),
};

/** Both tables by method path, for the authorization interceptor. */
export const BROKER_ACCESS_BY_PATH: AccessByPath = new Map([
  ...byPath('herald.v1.Broker', BROKER_ACCESS),
  ...byPath('herald.v1.Admin', ADMIN_ACCESS),
]);

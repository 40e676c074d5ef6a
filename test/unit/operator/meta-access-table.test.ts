import { loadMetaProto } from '../../../proto/load';
import { META_ACCESS_BY_PATH, META_SERVER_METHODS } from '../../../operator/meta/access-table';

test('every RPC of herald.v1.Meta is either in the access table or for Herald servers only', () => {
  const served = Object.values(loadMetaProto().grpc.herald.v1.Meta.service)
    .map((m) => m.path)
    .sort();
  const covered = [...META_ACCESS_BY_PATH.keys(), ...[...META_SERVER_METHODS].map((m) => `/${m}`)].sort();
  expect(covered).toEqual(served);
  expect([...META_SERVER_METHODS]).toContain('herald.v1.Meta/AcquireBrokerLeases');
});

test('group membership is consume on the group; listing topics is admin on all of them', () => {
  const of = (path: string, request: unknown) => META_ACCESS_BY_PATH.get(path)!(request as never);
  for (const rpc of ['JoinGroup', 'GroupHeartbeat', 'LeaveGroup'])
    expect(of(`/herald.v1.Meta/${rpc}`, { group: 'billing' })).toEqual({
      operation: 'consume',
      resources: [{ kind: 'group', name: 'billing' }],
    });
  expect(of('/herald.v1.Meta/ListTopics', { namespace: 'shop' })?.operation).toBe('admin');
  expect(of('/herald.v1.Meta/GetRoutes', { topic: 'orders' })).toBeUndefined();
});

import type * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../../../proto/load';
import { BROKER_ACCESS_BY_PATH } from '../../../../broker/security/access-table';

const methods = (service: { service: grpc.ServiceDefinition }) =>
  Object.values(service.service).map((m) => m.path);

test('every RPC of herald.v1.Broker and herald.v1.Admin has an access entry, and nothing else does', () => {
  const { herald } = loadProtos().grpc;
  const served = [...methods(herald.v1.Broker), ...methods(herald.v1.Admin)].sort();
  expect(served.length).toBeGreaterThanOrEqual(12);
  expect([...BROKER_ACCESS_BY_PATH.keys()].sort()).toEqual(served);
});

const of = (path: string, request: unknown) => BROKER_ACCESS_BY_PATH.get(path)!(request as never);

test('each RPC asks for the operation and the resources of its request', () => {
  expect(of('/herald.v1.Broker/Publish', { topic: 'orders' })).toEqual({
    operation: 'publish',
    resources: [{ kind: 'topic', name: 'orders' }],
  });
  expect(of('/herald.v1.Broker/PublishStream', { publish: { topic: 'orders' } })?.resources).toEqual([
    { kind: 'topic', name: 'orders' },
  ]);
  for (const rpc of ['Pull', 'Ack', 'Nack'])
    expect(of(`/herald.v1.Broker/${rpc}`, { topic: 't', group: 'g' })).toEqual({
      operation: 'consume',
      resources: [
        { kind: 'topic', name: 't' },
        { kind: 'group', name: 'g' },
      ],
    });
  expect(of('/herald.v1.Broker/Subscribe', { start: { topic: 't', group: 'g' } })?.operation).toBe('consume');
  // A credit grant on a running stream asks for nothing new.
  expect(of('/herald.v1.Broker/Subscribe', { credits: 5 })).toBeUndefined();
  expect(of('/herald.v1.Admin/ResetOffsets', { topic: 't', group: 'g' })?.operation).toBe('admin');
  expect(of('/herald.v1.Admin/GetLag', { topic: 't', group: 'g' })?.operation).toBe('admin');
  // Peek reads bodies as a consumer does, with no group.
  expect(of('/herald.v1.Admin/Peek', { topic: 't', partition: 0 })).toEqual({
    operation: 'consume',
    resources: [{ kind: 'topic', name: 't' }],
  });
});

test('an admin request without a topic or group asks for all of them', () => {
  expect(of('/herald.v1.Admin/Trace', { topic: '', messageId: 'm1' })?.resources).toEqual([
    { kind: 'topic', name: '*' },
  ]);
  expect(of('/herald.v1.Admin/ListDeadLetters', { filter: null })?.resources).toEqual([
    { kind: 'topic', name: '*' },
    { kind: 'group', name: '*' },
  ]);
  expect(of('/herald.v1.Admin/PurgeDeadLetters', { filter: { topic: 't', group: '' } })?.resources).toEqual([
    { kind: 'topic', name: 't' },
    { kind: 'group', name: '*' },
  ]);
});

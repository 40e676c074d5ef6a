// Refused calls as trace events: keyed on the ref keys of a refused publish and the message ids
// of a refused ack, bounded per call, with who and why but never a credential.
import type { Refusal } from '../../../common/security/interceptors';
import { MAX_REFUSAL_EVENTS, refusalEvents } from '../../../broker/trace/refusal-events';

const base = { peer: '127.0.0.1:5123' };
const messages = (...keys: string[]) => keys.map((refKey) => ({ body: Buffer.from('x'), refKey }));

test('a refused Publish gives one event per distinct ref key, under the topic', () => {
  const refusal: Refusal = {
    ...base,
    method: 'herald.v1.Broker/Publish',
    reason: 'PERMISSION_DENIED',
    subject: 'system:serviceaccount:shop:app',
    access: { operation: 'publish', resources: [{ kind: 'topic', name: 'orders' }] },
    request: { topic: 'orders', partition: 2, messages: messages('order-1', 'order-2', 'order-1', '') },
  };
  expect(refusalEvents(refusal)).toEqual(
    ['order-1', 'order-2'].map((refKey) => ({
      event: 'refused',
      ref: { topic: 'orders', partition: 2 },
      offset: 0,
      messageId: '',
      refKey,
      detail: {
        code: 'PERMISSION_DENIED',
        reason: 'PERMISSION_DENIED',
        method: 'herald.v1.Broker/Publish',
        peer: '127.0.0.1:5123',
        subject: 'system:serviceaccount:shop:app',
        operation: 'publish',
      },
    })),
  );
});

test('an unauthenticated PublishStream request is traced with its code and reason, no subject', () => {
  const [event, ...rest] = refusalEvents({
    ...base,
    method: 'herald.v1.Broker/PublishStream',
    reason: 'CREDENTIALS_INVALID',
    request: { requestId: 1, publish: { topic: 'orders', key: 'k', messages: messages('order-9') } },
  });
  expect(rest).toEqual([]);
  expect(event).toMatchObject({ refKey: 'order-9', ref: { topic: 'orders', partition: 0 } });
  expect(event.detail).toEqual({
    code: 'UNAUTHENTICATED',
    reason: 'CREDENTIALS_INVALID',
    method: 'herald.v1.Broker/PublishStream',
    peer: '127.0.0.1:5123',
  });
});

test('a refused Ack or Nack gives one event per offset, under its message id and group', () => {
  for (const method of ['herald.v1.Broker/Ack', 'herald.v1.Broker/Nack']) {
    const events = refusalEvents({
      ...base,
      method,
      reason: 'PERMISSION_DENIED',
      request: { topic: 'orders', partition: 1, group: 'billing', offsets: [7, 9] },
    });
    expect(events.map((e) => [e.messageId, e.offset, e.group])).toEqual([
      ['orders/1/7', 7, 'billing'],
      ['orders/1/9', 9, 'billing'],
    ]);
  }
});

test('at most MAX_REFUSAL_EVENTS per call', () => {
  const keys = Array.from({ length: MAX_REFUSAL_EVENTS * 3 }, (_, i) => `k${i}`);
  expect(
    refusalEvents({
      ...base,
      method: 'herald.v1.Broker/Publish',
      reason: 'CREDENTIALS_MISSING',
      request: { topic: 'orders', messages: messages(...keys) },
    }),
  ).toHaveLength(MAX_REFUSAL_EVENTS);
});

test('refusals that name no message, and an unreachable apiserver, are not traced', () => {
  const none = (r: Omit<Refusal, 'peer'>) => expect(refusalEvents({ ...base, ...r })).toEqual([]);
  none({ method: 'herald.v1.Broker/Pull', reason: 'PERMISSION_DENIED', request: { topic: 'orders' } });
  none({ method: 'herald.v1.Admin/Trace', reason: 'CREDENTIALS_MISSING', request: { topic: 'orders' } });
  // A stream refused on its headers, before any request.
  none({ method: 'herald.v1.Broker/PublishStream', reason: 'CREDENTIALS_MISSING' });
  none({
    method: 'herald.v1.Broker/Publish',
    reason: 'AUTHENTICATION_UNAVAILABLE',
    request: { topic: 'orders', messages: messages('k') },
  });
});

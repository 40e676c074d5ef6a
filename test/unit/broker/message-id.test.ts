import { HeraldError } from '../../../common/errors';
import { messageId, parseMessageId } from '../../../broker/trace/message-id';

test('stored and delayed ids parse to their canonical form', () => {
  expect(parseMessageId('orders/3/42')).toEqual({
    ref: { topic: 'orders', partition: 3 },
    id: 'orders/3/42',
  });
  expect(parseMessageId('orders/03/0042').id).toBe('orders/3/42');
  expect(parseMessageId('orders/0/d17')).toEqual({
    ref: { topic: 'orders', partition: 0 },
    id: 'orders/0/d17',
  });
  expect(parseMessageId(messageId({ topic: 'a-b', partition: 1 }, 9)).id).toBe('a-b/1/9');
});

test.each([
  '',
  'orders',
  'orders/1',
  'orders/x/1',
  'orders/1/x',
  'Orders/1/2',
  'orders/1/2/3',
  'orders/1/-2',
])('%j is INVALID_REQUEST naming message_id', (id) => {
  let err: unknown;
  try {
    parseMessageId(id);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(HeraldError);
  expect(err).toMatchObject({ reason: 'INVALID_REQUEST', metadata: { field: 'message_id' } });
});

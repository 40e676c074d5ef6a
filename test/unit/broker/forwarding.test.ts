import { forwardTarget } from '../../../broker/server/forwarding';

const routes = [
  { partition: 0, brokerId: 'b0', address: 'b0:7600', epoch: 1 },
  { partition: 1, brokerId: 'b1', address: 'b1:7600', epoch: 2 },
  { partition: 2, brokerId: '', address: '', epoch: 0 },
  { partition: 3, brokerId: 'b2', address: 'b2:7600', epoch: 1 },
];

test('a partition goes to its owner', () => {
  expect(forwardTarget(routes, '1', 'b0:7600')?.brokerId).toBe('b1');
});

test('never to itself, nor to a partition without a holder or out of range', () => {
  expect(forwardTarget(routes, '0', 'b0:7600')).toBeUndefined();
  expect(forwardTarget(routes, '2', 'b0:7600')).toBeUndefined();
  expect(forwardTarget(routes, '9', 'b0:7600')).toBeUndefined();
});

test('a publish without a partition goes to some other broker that holds one', () => {
  expect(forwardTarget(routes, undefined, 'b0:7600', () => 0)?.brokerId).toBe('b1');
  expect(forwardTarget(routes, undefined, 'b0:7600', (n) => n - 1)?.brokerId).toBe('b2');
  expect(forwardTarget(routes.slice(0, 1), undefined, 'b0:7600')).toBeUndefined();
});

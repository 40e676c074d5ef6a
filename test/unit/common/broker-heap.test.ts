import { brokerHeapFlags, memoryBytes } from '../../../common/broker-heap';

test.each([
  ['512Mi', 512 * 2 ** 20],
  ['1Gi', 2 ** 30],
  ['1.5Gi', 1.5 * 2 ** 30],
  ['1G', 1e9],
  ['500M', 5e8],
  ['268435456', 268435456],
  [268435456, 268435456],
  ['1e9', 1e9],
  ['+2Ki', 2048],
  ['1.5e3', 1500],
])('memory quantity %s is %d bytes', (q, bytes) => {
  expect(memoryBytes(q, 'spec.resources.limits.memory')).toBe(bytes);
});

test.each(['', 'lots', '512MB', '0', '500m', '-1Gi'])('%j is refused, naming the field', (q) => {
  expect(() => memoryBytes(q, 'spec.resources.limits.memory')).toThrow(
    /^spec\.resources\.limits\.memory must be a memory quantity/,
  );
});

test('the old space is half the limit, at least 96 MiB; the young generation is left to V8', () => {
  expect(brokerHeapFlags(512 * 2 ** 20)).toEqual(['--max-old-space-size=256']);
  expect(brokerHeapFlags(4 * 2 ** 30)).toEqual(['--max-old-space-size=2048']);
  expect(brokerHeapFlags(128 * 2 ** 20)).toEqual(['--max-old-space-size=96']);
});

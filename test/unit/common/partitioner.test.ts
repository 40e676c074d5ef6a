import { Partitioners } from 'kafkajs';
import { murmur2, partitionForKey } from '../../../common/partitioner';

// The same vectors are in docs/broker.md for implementers in other languages.
const VECTORS: [string, number, number][] = [
  // key, murmur2 (signed 32-bit), partition of 16
  ['', 275646681, 9],
  ['a', -1563381124, 12],
  ['abcd', -1323649548, 4],
  ['hello', 2132663229, 13],
  ['customer-17', 1584006640, 0],
  ['0', 971027396, 4],
  ['1', -1993445489, 15],
  ['128', -326012175, 1],
  ['ключ', 2122343024, 0],
  ['🙂', 925250799, 15],
];

test.each(VECTORS)('murmur2(%j) = %d, partition %d of 16', (key, hash, partition) => {
  expect(murmur2(Buffer.from(key, 'utf8'))).toBe(hash);
  expect(partitionForKey(key, 16)).toBe(partition);
});

test("agrees with Kafka's default partitioner (kafkajs) on many keys and partition counts", () => {
  const kafka = Partitioners.DefaultPartitioner();
  const metadata = (n: number) =>
    Array.from({ length: n }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
  for (let i = 0; i < 2000; i++) {
    const key = `key-${i}-${'x'.repeat(i % 7)}`;
    for (const n of [1, 3, 16, 100]) {
      expect(partitionForKey(key, n)).toBe(
        kafka({ topic: 't', partitionMetadata: metadata(n), message: { key, value: null } }),
      );
    }
  }
});

// Publishes ten orders, keyed by customer so each customer's orders stay in order.
//   HERALD_META=127.0.0.1:17700 HERALD_NAMESPACE=herald-demo \
//     node -r ts-node/register/transpile-only client/examples/producer.ts
import { createLogger, Producer } from '../index';

async function main(): Promise<void> {
  const producer = new Producer({
    meta: process.env.HERALD_META ?? '127.0.0.1:17700',
    namespace: process.env.HERALD_NAMESPACE ?? 'herald-demo',
    lingerMs: 5,
    logger: createLogger(),
  });
  try {
    const sends = Array.from({ length: 10 }, (_, i) =>
      producer.send('orders', {
        key: `customer-${i % 3}`,
        refKey: `order-${1000 + i}`,
        tags: ['example'],
        body: JSON.stringify({ order: 1000 + i, amount: 10 * i }),
      }),
    );
    for (const r of await Promise.all(sends)) console.log(`stored ${r.messageId}`);
  } finally {
    await producer.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

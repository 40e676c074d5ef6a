// Reads group billing's messages until Ctrl-C; a handler that throws gets its message again.
//   HERALD_META=127.0.0.1:17700 HERALD_NAMESPACE=herald-demo \
//     node -r ts-node/register/transpile-only client/examples/consumer.ts
import { Consumer, createLogger } from '../index';

async function main(): Promise<void> {
  const consumer = new Consumer({
    meta: process.env.HERALD_META ?? '127.0.0.1:17700',
    namespace: process.env.HERALD_NAMESPACE ?? 'herald-demo',
    group: 'billing',
    concurrency: 4,
    logger: createLogger(),
  });
  await consumer.run({
    eachMessage: (m) => {
      const text = m.body.toString();
      // A thrown error nacks the message with its text; the group's retry policy brings it back.
      if (text.includes('fail')) throw new Error(`cannot process ${m.messageId}`);
      console.log(`${m.messageId} attempt ${m.deliveryAttempt}: ${text}`);
    },
  });
  await new Promise((resolve) => process.once('SIGINT', resolve));
  await consumer.close(); // finishes running handlers, acks them, leaves the group
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

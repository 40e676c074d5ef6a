// Proves the Kafka of the local environment is real: kafkajs creates a topic, produces to it
// with acks=all and consumes the message back through a consumer group.
import { Kafka, logLevel } from 'kafkajs';
import { testEnv, uniqueName } from '../env';

test('kafkajs produces a message and consumes it back', async () => {
  const kafka = new Kafka({
    clientId: 'herald-smoke',
    brokers: testEnv().kafkaBrokers,
    logLevel: logLevel.NOTHING,
  });
  const topic = uniqueName('smoke');
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true });
  const consumer = kafka.consumer({ groupId: uniqueName('smoke-group') });
  await admin.connect();
  try {
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })).toBe(
      true,
    );
    await producer.connect();
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: 'k1', value: 'hello kafka' }] });
    expect(meta.errorCode).toBe(0);

    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = new Promise<string>((resolve) => {
      void consumer.run({
        eachMessage: ({ message }) => {
          resolve(`${message.key?.toString() ?? ''}=${message.value?.toString() ?? ''}`);
          return Promise.resolve();
        },
      });
    });
    await expect(received).resolves.toBe('k1=hello kafka');
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
});

// Provisioning of Kafka topics (Topic spec.storage: kafka) through the Kafka admin API. The
// Kafka topic has the Topic's name, as a MySQL topic's tables do within the pool's database:
// pools that share a Kafka cluster share its topic names.
import { Kafka, logLevel } from 'kafkajs';
import type { Logger } from '../../common/logger';
import type { TopicProvisioner } from './topic-storage';

export async function openKafkaTopics(bootstrapServers: string[], logger: Logger): Promise<TopicProvisioner> {
  const kafka = new Kafka({
    clientId: 'herald-operator',
    brokers: bootstrapServers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    retry: { retries: 3 },
  });
  const admin = kafka.admin();
  await admin.connect();
  const partitionsOf = async (topic: string): Promise<number> => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
  };
  return {
    async ensureTopic(topic, partitions) {
      const created = await admin.createTopics({
        topics: [{ topic, numPartitions: partitions }],
        waitForLeaders: true,
      });
      if (created) return;
      const existing = await partitionsOf(topic);
      if (existing < partitions) {
        await admin.createPartitions({ topicPartitions: [{ topic, count: partitions }] });
        logger.info('grew a Kafka topic', { topic, from: existing, to: partitions });
      }
    },
    async dropTopic(topic) {
      const topics = await admin.listTopics();
      if (topics.includes(topic)) await admin.deleteTopics({ topics: [topic] });
    },
    close: () => admin.disconnect(),
  };
}

// A pool's Kafka for the operator (Topic spec.storage: kafka): it creates, grows, configures
// and deletes the Kafka topics, and reads and sets the groups' Kafka offsets for start positions
// and lag, all through the brokers' own Kafka store (storage/kafka), so no Kafka request is
// written twice. The Kafka topic has the Topic's name, as a MySQL topic's tables do within the
// pool's database: pools that share a Kafka cluster share its topic names.
import { DEFAULTS } from '../../common/broker-options';
import type { Logger } from '../../common/logger';
import { openKafkaStore } from '../../storage/index';
import type { MessageStore } from '../../storage/index';
import type { TopicProvisioner } from './topic-storage';

export interface KafkaTopicStorage extends TopicProvisioner {
  readonly messages: MessageStore;
}

export async function openKafkaTopics(
  bootstrapServers: string[],
  logger: Logger,
): Promise<KafkaTopicStorage> {
  const store = await openKafkaStore(
    {
      ...DEFAULTS.kafka,
      // The operator's calls are not on a lease's clock: give a slow Kafka more time.
      requestTimeoutMs: 10_000,
      connectTimeoutMs: 5_000,
      bootstrapServers,
      clientId: 'herald-operator',
    },
    logger,
  );
  return {
    messages: store,
    async ensureTopic(topic, partitions, settings) {
      await store.ensureTopic(topic, partitions);
      await store.configureTopic(topic, { retentionMs: settings.retentionHours * 3_600_000 });
    },
    dropTopic: (topic, partitions) => store.dropTopic(topic, partitions),
    close: () => store.close(),
  };
}

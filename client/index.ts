// The public entry point of Herald's TypeScript client library.
export { Producer } from './producer';
export { Consumer, RetryLater } from './consumer';
export type { Delivery, MessageHandler, RunOptions } from './consumer';
export { Admin } from './admin';
export type {
  DeadLetter,
  DeadLetterQuery,
  PartitionLag,
  PartitionReset,
  PeekResponse,
  ResetTarget,
  TopicSummary,
  TraceEvent,
  TraceQuery,
} from './admin';
export type { OutgoingMessage, SendResult } from './message';
export type { ConnectionOptions, ConsumerOptions, Input, ProducerOptions } from './options';
export { HeraldError, UnavailableError, REASONS } from '../common/errors';
export type { CallError, Reason } from '../common/errors';
export { createLogger, silentLogger } from '../common/logger';
export type { Logger } from '../common/logger';
export { murmur2, partitionForKey } from '../common/partitioner';
export { IDEMPOTENCY_DEFAULTS, KeyInProgressError, MysqlIdempotencyChecker } from './idempotency/checker';
export type { IdempotencyOptions, Outcome } from './idempotency/checker';

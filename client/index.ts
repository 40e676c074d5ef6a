// The public entry point of Herald's TypeScript client library.
export { IDEMPOTENCY_DEFAULTS, KeyInProgressError, MysqlIdempotencyChecker } from './idempotency/checker';
export type { IdempotencyOptions, Outcome } from './idempotency/checker';

// The Producer's batching decisions, as pure functions. Messages for one lane (a partition,
// or a key the broker hashes) wait in send() order; each Publish takes the next batch from
// them. Order is owed per key (a message without a key counts as the lane's one key), so the
// limit on Publishes in flight is per key: a key with maxInFlight Publishes in flight is busy,
// and its messages wait while the other keys' messages go (1: a key's messages are stored in
// send() order, retries included). Rules:
// - the next batch is every waiting message of a key that is not busy, in send() order, until
//   it is full (messages or bytes); a message that does not fit ends it, so a key's later
//   messages never go before its earlier ones;
// - a full batch goes at once;
// - with nothing to take (every waiting message's key is busy) the lane holds, and plans again
//   when a Publish is answered: under load, batches grow with the round trip by themselves
//   (the Kafka Java client's behaviour), without a timer;
// - otherwise a batch waits lingerMs from its first message; with lingerMs 0 it goes at the
//   end of the current turn of the event loop, so sends made together go together.
// A message of a key that is not busy therefore no longer waits for another key's Publish in
// flight on its partition: the broker queues the stream's requests per partition and takes
// them into its next group commit.

export interface ProducerBatchLimits {
  lingerMs: number;
  maxBatchMessages: number;
  maxBatchBytes: number;
  /** Publishes one key may have in flight at once. */
  maxInFlight: number;
}

export interface OpenBatchState {
  messages: number;
  bytes: number;
  /** When its first message arrived (ms). */
  openedAt: number;
}

/** The next batch of a lane: its size, and whether a message that did not fit ended it. */
export interface NextBatch extends OpenBatchState {
  full: boolean;
}

/** A waiting message as the batching sees it. */
export interface WaitingMessage {
  key: string;
  bytes: number;
  /** When it arrived (ms). */
  at: number;
}

export type BatchPlan =
  | { kind: 'send' }
  /** Send after `ms` (0: at the end of this turn), unless something else sends it first. */
  | { kind: 'linger'; ms: number }
  /** Nothing to send until one of the lane's Publishes in flight is answered. */
  | { kind: 'hold' };

export const emptyBatch = (): NextBatch => ({ messages: 0, bytes: 0, openedAt: 0, full: false });

/** Whether a message of `size` bytes still joins the batch (else the batch is full). */
export function joins(b: OpenBatchState, size: number, limits: ProducerBatchLimits): boolean {
  return b.messages < limits.maxBatchMessages && (b.messages === 0 || b.bytes + size <= limits.maxBatchBytes);
}

/**
 * Adds a message of a key that is not busy to the next batch `b` (in place): it joins, or it
 * makes the batch full. Returns whether it joined.
 */
export function take(b: NextBatch, m: WaitingMessage, limits: ProducerBatchLimits): boolean {
  if (b.full) return false;
  if (!joins(b, m.bytes, limits)) {
    b.full = true;
    return false;
  }
  if (b.messages === 0) b.openedAt = m.at;
  b.messages++;
  b.bytes += m.bytes;
  if (b.messages >= limits.maxBatchMessages || b.bytes >= limits.maxBatchBytes) b.full = true;
  return true;
}

/**
 * The next batch from a lane's waiting messages (send() order): the indices it takes, and its
 * size. `inFlight(key)`: the key's Publishes in flight.
 */
export function nextBatch(
  waiting: readonly WaitingMessage[],
  inFlight: (key: string) => number,
  limits: ProducerBatchLimits,
): { batch: NextBatch; taken: number[] } {
  const batch = emptyBatch();
  const taken: number[] = [];
  for (let i = 0; i < waiting.length && !batch.full; i++) {
    const m = waiting[i];
    if (inFlight(m.key) >= limits.maxInFlight) continue;
    if (take(batch, m, limits)) taken.push(i);
  }
  return { batch, taken };
}

export function planBatch(b: NextBatch, now: number, limits: ProducerBatchLimits): BatchPlan {
  if (b.messages === 0) return { kind: 'hold' };
  if (b.full) return { kind: 'send' };
  const waited = now - b.openedAt;
  if (limits.lingerMs > 0 && waited >= limits.lingerMs) return { kind: 'send' };
  return { kind: 'linger', ms: Math.max(0, limits.lingerMs - waited) };
}

/**
 * The partition of an unkeyed message: Kafka's sticky partitioner, made adaptive as Kafka's
 * (KIP-794) is. It stays on `sticky` while that partition's lane takes it into its next batch;
 * otherwise it moves to a partition whose lane would, scanning from a random one, so a partition
 * that is held up (its Publish in flight waits out a rate limit or a slow broker) does not
 * collect every send while the others have none. When no lane would take it, it stays on
 * `sticky` (or a random partition), where the batch grows with the round trip.
 */
export function unkeyedPartition(
  sticky: number | undefined,
  partitions: number,
  takes: (partition: number) => boolean,
  random: () => number = Math.random,
): number {
  if (sticky !== undefined && sticky < partitions && takes(sticky)) return sticky;
  const start = Math.floor(random() * partitions);
  for (let i = 0; i < partitions; i++) {
    const p = (start + i) % partitions;
    if (p !== sticky && takes(p)) return p;
  }
  return sticky !== undefined && sticky < partitions ? sticky : start;
}

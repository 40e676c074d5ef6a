// The Producer's batching decisions, as pure functions. Messages for one lane (a partition,
// or a key the broker hashes) collect in an open batch; at most maxInFlight Publishes per lane
// are in flight at a time (1: a lane's messages are stored in send() order, retries included).
// Rules:
// - a full batch (messages or bytes) goes at once, queued behind the lane's Publishes in flight
//   while all maxInFlight are taken;
// - while all of the lane's maxInFlight Publishes are in flight the open batch is held, and
//   goes as soon as one is answered, with everything that arrived meanwhile: under load,
//   batches grow with the round trip by themselves (the Kafka Java client's behaviour), without
//   a timer;
// - on a lane with a Publish to spare a batch waits lingerMs from its first message; with
//   lingerMs 0 it goes at the end of the current turn of the event loop, so sends made together
//   go together.

export interface ProducerBatchLimits {
  lingerMs: number;
  maxBatchMessages: number;
  maxBatchBytes: number;
  /** Publishes one lane may have in flight at once. */
  maxInFlight: number;
}

export interface OpenBatchState {
  messages: number;
  bytes: number;
  /** When its first message arrived (ms). */
  openedAt: number;
}

export type BatchPlan =
  | { kind: 'send' }
  /** Send after `ms` (0: at the end of this turn), unless something else sends it first. */
  | { kind: 'linger'; ms: number }
  /** Wait until one of the lane's Publishes in flight is answered. */
  | { kind: 'hold' };

/** `inFlight`: the lane's Publishes sent and not yet answered. */
export function planBatch(
  b: OpenBatchState,
  inFlight: number,
  now: number,
  limits: ProducerBatchLimits,
): BatchPlan {
  if (b.messages >= limits.maxBatchMessages || b.bytes >= limits.maxBatchBytes) return { kind: 'send' };
  if (inFlight >= limits.maxInFlight) return { kind: 'hold' };
  const waited = now - b.openedAt;
  if (limits.lingerMs > 0 && waited >= limits.lingerMs) return { kind: 'send' };
  return { kind: 'linger', ms: Math.max(0, limits.lingerMs - waited) };
}

/** Whether a message of `size` bytes still joins the open batch (else the batch goes first). */
export function joins(b: OpenBatchState, size: number, limits: ProducerBatchLimits): boolean {
  return b.messages < limits.maxBatchMessages && (b.messages === 0 || b.bytes + size <= limits.maxBatchBytes);
}

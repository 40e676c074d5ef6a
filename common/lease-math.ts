// Lease arithmetic, the same on both sides of a lease (DESIGN.md, "Leases").
//
// The holder counts a lease from the moment it SENT the request that granted or renewed it and
// stops a safety margin early; the meta-server counts from the moment it RECEIVED that request.
// Sending happens before receiving, so with clocks whose rates differ by less than
// margin / duration the holder's validity always ends before the meta-server's expiry, and
// the meta-server hands the partition to someone else only after that.

export interface LeaseDurations {
  /** How long a lease lasts. */
  durationMs: number;
  /** How much earlier than that the holder stops using it. */
  safetyMarginMs: number;
}

/** Hermes' broker lease: 10 s, used as if 2 s shorter (DESIGN.md). */
export const BROKER_LEASE: LeaseDurations = { durationMs: 10_000, safetyMarginMs: 2_000 };
/** Hermes' consumer lease: 20 s, used as if 2 s shorter. */
export const CONSUMER_LEASE: LeaseDurations = { durationMs: 20_000, safetyMarginMs: 2_000 };

/** Checks durations, naming the field that is wrong. */
export function checkDurations(field: string, d: LeaseDurations): LeaseDurations {
  if (!Number.isInteger(d.durationMs) || d.durationMs < 1) {
    throw new RangeError(`${field}.durationMs must be a positive integer, got ${d.durationMs}`);
  }
  if (!Number.isInteger(d.safetyMarginMs) || d.safetyMarginMs < 0 || d.safetyMarginMs * 2 >= d.durationMs) {
    throw new RangeError(
      `${field}.safetyMarginMs must be an integer in 0..durationMs/2, got ${d.safetyMarginMs}`,
    );
  }
  return d;
}

/** Until when (holder clock) the holder may use a lease whose request it sent at `sentAt`. */
export function holderValidUntil(sentAt: number, d: LeaseDurations): number {
  return sentAt + d.durationMs - d.safetyMarginMs;
}

/** When (meta-server clock) a lease granted or renewed on a request received at `receivedAt` ends. */
export function metaExpiresAt(receivedAt: number, d: LeaseDurations): number {
  return receivedAt + d.durationMs;
}

/** How often a holder renews: three tries fit into one lease. */
export function renewIntervalMs(d: LeaseDurations): number {
  return Math.max(1, Math.floor(d.durationMs / 3));
}

/** The epoch of the next grant: unchanged for the same holder, one more for a new holder. */
export function nextEpoch(previous: { holder: string; epoch: number } | undefined, holder: string): number {
  if (previous === undefined) return 1;
  return previous.holder === holder ? previous.epoch : previous.epoch + 1;
}

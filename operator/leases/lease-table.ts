// The meta-server's record of leases, by key (a topic partition, or a group's partition). Pure:
// time is passed in, on the meta-server's clock. The one invariant: a lease is granted to a new
// holder only when the previous holder's lease has expired or was released, so no key ever
// has two valid holders (checked by the property tests in test/unit/operator).
import { metaExpiresAt, nextEpoch } from '../../common/lease-math';
import type { LeaseDurations } from '../../common/lease-math';

export interface Lease {
  holder: string;
  epoch: number;
  /** Meta-server clock. */
  expiresAt: number;
  released: boolean;
}

export interface Granted {
  key: string;
  holder: string;
  epoch: number;
  expiresAt: number;
  /** The holder differs from the previous one (so the checkpoint must change). */
  holderChanged: boolean;
}

export class LeaseTable {
  /** The last lease of every key ever granted; kept after expiry for its epoch. */
  private readonly leases = new Map<string, Lease>();

  /** The valid lease of `key` at `now`, if any. */
  current(key: string, now: number): Lease | undefined {
    const lease = this.leases.get(key);
    return lease && !lease.released && now < lease.expiresAt ? lease : undefined;
  }

  /** The last lease of `key`, valid or not. */
  last(key: string): Lease | undefined {
    return this.leases.get(key);
  }

  /**
   * Grants `key` to `holder`, or renews it when `holder` already holds it. Refused (undefined)
   * while another holder's lease is valid.
   */
  grant(key: string, holder: string, now: number, d: LeaseDurations): Granted | undefined {
    const previous = this.leases.get(key);
    const valid = this.current(key, now);
    if (valid !== undefined && valid.holder !== holder) return undefined;
    const epoch = nextEpoch(previous, holder);
    const expiresAt = metaExpiresAt(now, d);
    this.leases.set(key, { holder, epoch, expiresAt, released: false });
    return { key, holder, epoch, expiresAt, holderChanged: previous?.holder !== holder };
  }

  /**
   * Renews the lease `holder` holds with `epoch`. A lease that expired without anyone taking
   * it over may be renewed (no one else held it meanwhile: the epoch proves it); a released one
   * may not.
   */
  renew(key: string, holder: string, epoch: number, now: number, d: LeaseDurations): Granted | undefined {
    const lease = this.leases.get(key);
    if (lease === undefined || lease.holder !== holder || lease.epoch !== epoch || lease.released)
      return undefined;
    lease.expiresAt = Math.max(lease.expiresAt, metaExpiresAt(now, d));
    return { key, holder, epoch, expiresAt: lease.expiresAt, holderChanged: false };
  }

  /** Ends the lease at once if `holder` holds it with `epoch`; true when it did. */
  release(key: string, holder: string, epoch: number): boolean {
    const lease = this.leases.get(key);
    if (lease === undefined || lease.holder !== holder || lease.epoch !== epoch || lease.released)
      return false;
    lease.released = true;
    return true;
  }

  /** Restores a lease from a checkpoint, valid until `expiresAt`. */
  restore(key: string, holder: string, epoch: number, expiresAt: number): void {
    this.leases.set(key, { holder, epoch, expiresAt, released: false });
  }

  /** Forgets keys (a deleted topic or group); their epochs are gone with them. */
  forget(keep: (key: string) => boolean): void {
    for (const key of [...this.leases.keys()]) if (!keep(key)) this.leases.delete(key);
  }

  keys(): IterableIterator<string> {
    return this.leases.keys();
  }
}

// Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection:
// - lease 15 s, renew deadline 10 s, retry every 2 s (controller-runtime's defaults);
// - expiry is judged from the LOCAL time at which this process last saw the record change,
//   never from the stored renewTime, so clock skew between machines does not matter;
// - times are MicroTime with 6 fractional digits (V1MicroTime);
// - updates carry the resourceVersion read, so two candidates cannot both win.
// The leader publishes its meta-server address in an annotation, so followers can point
// callers to it.
import { V1MicroTime } from '@kubernetes/client-node';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger';
import { check, field, int, resolve } from '../../common/options';
import type { Table } from '../../common/options';
import { isConflict, isNotFound } from './client';

export const LEADER_ADDRESS_ANNOTATION = 'herald.dev/meta-address';

export interface LeaderElectionOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  /** This candidate's meta-server address, published while it leads. */
  address: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  now?: () => number;
}

type Timing = Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>;

/** The election's timing, as client-go's defaults; each bound below the one before it. */
const TIMING: Table<Timing> = {
  leaseDurationMs: field(15_000, int(1)),
  renewDeadlineMs: field(10_000, int(1)),
  retryPeriodMs: field(2_000, int(1)),
};

/** The timing with defaults, checked: retryPeriodMs < renewDeadlineMs < leaseDurationMs. */
export function leaderElectionTiming(prefix: string, input: Partial<Timing> | undefined): Timing {
  const t = resolve(prefix, TIMING, input);
  check(`${prefix}.renewDeadlineMs`, t.renewDeadlineMs, int(t.retryPeriodMs + 1));
  check(`${prefix}.leaseDurationMs`, t.leaseDurationMs, int(t.renewDeadlineMs + 1));
  return t;
}

export interface LeaderInfo {
  identity: string;
  address: string;
}

export interface LeaderCallbacks {
  /** This process became the leader. */
  onStartedLeading: () => void;
  /** This process lost the lease (renew deadline passed) or stopped. */
  onStoppedLeading: () => void;
}

export class LeaderElector {
  private observed: { holder: string; renewTime: string; resourceVersion: string } | undefined;
  private observedAt = 0;
  private observedDurationMs = 0;
  private lastRenew = 0;
  private leading = false;
  private leader: LeaderInfo | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly options: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
  ) {
    leaderElectionTiming('leaderElection', options);
    this.now = options.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The current leader as last observed, if any. */
  currentLeader(): LeaderInfo | undefined {
    return this.leader;
  }

  start(): void {
    const tick = () => {
      this.running = this.step().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.nextDelayMs());
      });
    };
    tick();
  }

  /** Stops campaigning; a leader releases the lease so a successor need not wait for expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.leading) {
      await this.release().catch((err: unknown) =>
        this.options.logger.warn('could not release the lease', { err }),
      );
      this.setLeading(false);
    }
  }

  /**
   * Every retry period, but a follower that saw the leader's record stop changing tries again
   * right when it expires by the local clock, not up to a retry period later.
   */
  private nextDelayMs(): number {
    const { retryPeriodMs } = this.options;
    if (this.leading || this.observed === undefined || this.observed.holder === '') return retryPeriodMs;
    const untilExpiry = this.observedAt + this.observedDurationMs - this.now() + 1;
    return untilExpiry > 0 ? Math.min(retryPeriodMs, untilExpiry) : retryPeriodMs;
  }

  private async step(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok) {
        this.lastRenew = this.now();
        this.setLeading(true);
        return;
      }
    } catch (err) {
      this.options.logger.warn('leader election attempt failed', { err });
    }
    if (this.leading && this.now() - this.lastRenew > this.options.renewDeadlineMs) {
      this.options.logger.warn('could not renew the leader lease before the deadline; stepping down');
      this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.options.logger.info(leading ? 'became the leader' : 'stopped leading', {
      identity: this.options.identity,
    });
    if (leading) this.callbacks.onStartedLeading();
    else this.callbacks.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity, leaseDurationMs, address } = this.options;
    const now = this.now();
    const micro = new V1MicroTime(now);
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const body: V1Lease = {
        metadata: { name, namespace, annotations: { [LEADER_ADDRESS_ANNOTATION]: address } },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
          acquireTime: micro,
          renewTime: micro,
          leaseTransitions: 0,
        },
      };
      try {
        await api.createNamespacedLease({ namespace, body });
      } catch (createErr) {
        if (isConflict(createErr)) return false;
        throw createErr;
      }
      this.leader = { identity, address };
      return true;
    }

    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = {
      holder,
      renewTime: spec.renewTime ? new Date(spec.renewTime).toISOString() : '',
      resourceVersion: lease.metadata?.resourceVersion ?? '',
    };
    if (
      this.observed === undefined ||
      this.observed.holder !== record.holder ||
      this.observed.renewTime !== record.renewTime ||
      this.observed.resourceVersion !== record.resourceVersion
    ) {
      this.observed = record;
      this.observedAt = now;
    }
    const duration = (spec.leaseDurationSeconds ?? Math.ceil(leaseDurationMs / 1000)) * 1000;
    this.observedDurationMs = duration;
    const heldByOther = holder !== '' && holder !== identity && this.observedAt + duration > now;
    this.leader =
      holder === ''
        ? undefined
        : { identity: holder, address: lease.metadata?.annotations?.[LEADER_ADDRESS_ANNOTATION] ?? '' };
    if (heldByOther) return false;

    const takingOver = holder !== identity;
    const body: V1Lease = {
      ...lease,
      metadata: {
        ...lease.metadata,
        annotations: { ...lease.metadata?.annotations, [LEADER_ADDRESS_ANNOTATION]: address },
      },
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        renewTime: micro,
        acquireTime: takingOver ? micro : spec.acquireTime ? new V1MicroTime(spec.acquireTime) : micro,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver ? 1 : 0),
      },
    };
    try {
      const updated = await api.replaceNamespacedLease({ name, namespace, body });
      this.observed = {
        holder: identity,
        renewTime: new Date(now).toISOString(),
        resourceVersion: updated.metadata?.resourceVersion ?? '',
      };
      this.observedAt = now;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    this.leader = { identity, address };
    return true;
  }

  private async release(): Promise<void> {
    const { api, namespace, name, identity } = this.options;
    const lease = await api.readNamespacedLease({ name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    const micro = new V1MicroTime(this.now());
    await api.replaceNamespacedLease({
      name,
      namespace,
      body: {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: micro,
          acquireTime: micro,
        },
      },
    });
  }
}

// Stores the committed offsets of every cursor that moved, at most `intervalMs` after the first
// move since they were last taken, and on shutdown. Acks therefore cost no fsync each: a crash
// can lose at most the last interval of acks, which are then delivered again (at-least-once),
// while a graceful stop loses none.
//
// Riding (OffsetRider): a store with offsetsInAppend lets them go into a group commit's
// transaction, as trace rows do, so they cost no log flush of their own. From half the interval
// on (offsetsDue), the next commit of their store takes them; only when none comes before the
// interval ends are they written on their own, one statement per store. One store of offsets
// (a ride or a write) is in flight at a time, so no two transactions update the same offset
// rows at once and a later store never overtakes an earlier one. What a failed commit or write
// gives back is stored again (offsets only move forward: GREATEST in the store).
import type { Logger } from '../../common/logger';
import type { MessageStore, OffsetCommit } from '../../storage/storage';
import type { OffsetRider } from '../publish/group-committer';
import type { GroupCursor } from './group-cursor';

type OffsetStore = Pick<MessageStore, 'commitOffsets'>;

/**
 * Offsets first moved at `since`, at `now`: held for company, due to ride on the next commit
 * (from half the interval on), or overdue for a write of their own (after the whole interval).
 */
export function offsetsDue(since: number, now: number, intervalMs: number): 'hold' | 'ride' | 'write' {
  const age = now - since;
  if (age >= intervalMs) return 'write';
  return age >= intervalMs / 2 ? 'ride' : 'hold';
}

interface Ride {
  cursors: GroupCursor[];
  commits: OffsetCommit[];
  since: number;
  settle: () => void;
}

export class OffsetCommitter implements OffsetRider {
  private dirty = new Set<GroupCursor>();
  /** When the oldest move not yet taken happened; undefined: nothing moved. */
  private since: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  /** The store of offsets in flight (a ride or a write). */
  private running: Promise<void> | undefined;
  private ride: Ride | undefined;

  constructor(
    /** The message store of a topic. */
    private readonly stores: (topic: string) => OffsetStore,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    /** Seconds per offset write of its own (it shares the store with the group commits). */
    private readonly written: { observe(seconds: number): void } = { observe: () => undefined },
  ) {}

  start(): void {
    this.started = true;
    this.arm();
  }

  /** The cursor's committed offset moved. */
  changed(cursor: GroupCursor): void {
    this.dirty.add(cursor);
    if (this.since === undefined) {
      this.since = performance.now();
      this.arm();
    }
  }

  /** The cursor is gone (an offset reset, a lost lease): its acks are no longer stored. */
  forget(cursor: GroupCursor): void {
    this.dirty.delete(cursor);
  }

  /** The moved offsets of `store`'s cursors when they are due; [] otherwise. */
  take(store: object): OffsetCommit[] {
    if (this.running || this.since === undefined) return [];
    if (offsetsDue(this.since, performance.now(), this.intervalMs) === 'hold') return [];
    const cursors = [...this.dirty].filter((c) => this.stores(c.ref.topic) === store);
    for (const c of cursors) this.dirty.delete(c);
    const since = this.since;
    if (this.dirty.size === 0) this.clear();
    const moved = cursors.filter((c) => c.committed > c.storedOffset);
    if (moved.length === 0) return [];
    const commits = moved.map((c) => ({ group: c.key, ref: c.ref, offset: c.committed }));
    this.running = new Promise((settle) => {
      this.ride = { cursors: moved, commits, since, settle };
    });
    return commits;
  }

  /** The commit that took `commits` stored them. */
  stored(commits: OffsetCommit[]): void {
    const ride = this.settle(commits);
    ride?.cursors.forEach((c, i) => (c.storedOffset = Math.max(c.storedOffset, commits[i].offset)));
  }

  /** The commit that took `commits` failed: they are stored by the next one, or on their own when due. */
  giveBack(commits: OffsetCommit[]): void {
    const ride = this.settle(commits);
    if (!ride) return;
    for (const c of ride.cursors) this.dirty.add(c);
    this.since = Math.min(this.since ?? ride.since, ride.since);
    // Due by the first move's interval (the timer may be set for a later one).
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.arm();
  }

  /** Stores every moved offset on its own; one store at a time. Failed ones are retried later. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    const cursors = [...this.dirty].filter((c) => c.committed > c.storedOffset);
    this.dirty.clear();
    this.clear();
    if (cursors.length === 0) return;
    const byStore = new Map<OffsetStore, GroupCursor[]>();
    for (const c of cursors) {
      const store = this.stores(c.ref.topic);
      byStore.set(store, [...(byStore.get(store) ?? []), c]);
    }
    this.running = Promise.all(
      [...byStore].map(([store, moved]) => {
        const commits = moved.map((c) => ({ group: c.key, ref: c.ref, offset: c.committed }));
        const started = performance.now();
        return store.commitOffsets(commits).then(
          () => {
            this.written.observe((performance.now() - started) / 1000);
            moved.forEach((c, i) => (c.storedOffset = Math.max(c.storedOffset, commits[i].offset)));
          },
          (err: unknown) => {
            // Tried again an interval from now.
            for (const c of moved) this.changed(c);
            throw err;
          },
        );
      }),
    ).then(() => undefined);
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Stops the timer and stores what is left. */
  async stop(): Promise<void> {
    this.started = false;
    this.clear();
    await this.flush();
  }

  private settle(commits: OffsetCommit[]): Ride | undefined {
    const ride = this.ride;
    if (ride?.commits !== commits) return undefined;
    this.ride = undefined;
    this.running = undefined;
    ride.settle();
    return ride;
  }

  /** A write of their own when the moved offsets' interval ends. */
  private arm(): void {
    if (!this.started || this.timer || this.since === undefined) return;
    const wait = Math.max(0, this.since + this.intervalMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err: unknown) => this.logger.warn('could not store committed offsets', { err }));
    }, wait);
    this.timer.unref();
  }

  private clear(): void {
    this.since = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

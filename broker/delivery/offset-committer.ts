// Stores the committed offsets of every cursor that moved, in one statement per message store, every
// `intervalMs` and on shutdown. Acks therefore cost no fsync each: a crash can lose at most
// the last interval of acks, which are then delivered again (at-least-once), while a
// graceful stop loses none.
import type { Logger } from '../../common/logger';
import type { MessageStore } from '../../storage/storage';
import type { GroupCursor } from './group-cursor';

export class OffsetCommitter {
  private dirty = new Set<GroupCursor>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    /** The message store of a topic. */
    private readonly stores: (topic: string) => Pick<MessageStore, 'commitOffsets'>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    /** Seconds per offset write (it shares the store with the group commits). */
    private readonly written: { observe(seconds: number): void } = { observe: () => undefined },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.flush().catch((err: unknown) => this.logger.warn('could not store committed offsets', { err }));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** The cursor's committed offset moved. */
  changed(cursor: GroupCursor): void {
    this.dirty.add(cursor);
  }

  /** The cursor is gone (an offset reset, a lost lease): its acks are no longer stored. */
  forget(cursor: GroupCursor): void {
    this.dirty.delete(cursor);
  }

  /** Stores every moved offset; one write at a time. Failed ones are retried next time. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    const cursors = [...this.dirty].filter((c) => c.committed > c.storedOffset);
    this.dirty.clear();
    if (cursors.length === 0) return;
    const byStore = new Map<Pick<MessageStore, 'commitOffsets'>, GroupCursor[]>();
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
            for (const c of moved) this.dirty.add(c);
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
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}

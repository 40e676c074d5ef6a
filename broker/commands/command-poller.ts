// Applies the command log on the partition owner. Any broker may serve an Admin call that
// changes what an owner holds in memory (ResetOffsets, ReplayDeadLetters); it appends a
// command to the shared store, and every broker reads the commands after the last it saw every
// `intervalMs` (one primary-key range read) and applies those for partitions it owns. A broker
// starts after the newest command: what came before it is already in the store, which it reads
// when it opens a partition.
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { PartitionRef } from '../../storage/storage';
import type { Command, TraceStore } from '../../storage/trace-store';

/** What the owner does with a command (the delivery path). */
export interface CommandTarget {
  /**
   * Moves the group's position on the partition to after `offset`, dropping what it has in
   * flight. When it resolves, `offset` is the stored committed offset (written after any acked
   * offset the owner had not stored yet, which would otherwise overwrite it).
   */
  reset(group: string, ref: PartitionRef, offset: number): Promise<void>;
  /** The group's resend schedule on the partition changed: look at it now. */
  wakeResends(group: string, ref: PartitionRef): void;
}

export interface CommandPollerOptions {
  intervalMs: number;
  /** Commands read per round trip. */
  batch: number;
}

export class CommandPoller {
  private lastId = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Pick<TraceStore, 'commandsAfter' | 'lastCommandId'>,
    private readonly target: CommandTarget,
    /** Whether this broker serves the partition now. */
    private readonly owns: (ref: PartitionRef) => boolean,
    private readonly options: CommandPollerOptions,
    private readonly logger: Logger,
  ) {}

  /** The id of the last command seen. */
  get position(): number {
    return this.lastId;
  }

  async start(): Promise<void> {
    this.lastId = await this.store.lastCommandId();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /**
   * Reads and applies new commands until none is left. A command whose application fails
   * because the store is unavailable stops the round; it is tried again next round.
   */
  async poll(): Promise<void> {
    for (;;) {
      const commands = await this.store.commandsAfter(this.lastId, this.options.batch);
      for (const { id, command } of commands) {
        await this.apply(command);
        this.lastId = id;
      }
      if (commands.length < this.options.batch) return;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.poll()
        .catch((err: unknown) => this.logger.warn('could not apply the command log', { err }))
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private async apply(command: Command): Promise<void> {
    if (!this.owns(command.ref)) return;
    try {
      if (command.kind === 'reset') {
        await this.target.reset(command.group, command.ref, command.offset);
        this.logger.info('offsets reset', { group: command.group, ...command.ref, offset: command.offset });
      } else {
        this.target.wakeResends(command.group, command.ref);
      }
    } catch (err) {
      // Only an unreachable store is worth another try; anything else would fail again.
      if (err instanceof HeraldError && err.reason === 'STORAGE_UNAVAILABLE') throw err;
      this.logger.error('could not apply a command; skipped', { command, err });
    }
  }
}

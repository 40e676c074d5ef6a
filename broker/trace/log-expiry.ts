// Bounds the trace events and the command log by age: every `intervalMs`, deletes trace
// events older than the trace retention and commands older than theirs. Every broker runs it;
// the deletes are primary-key ranges, so brokers running it together only repeat cheap work.
import type { Logger } from '../../common/logger';
import type { TraceStore } from '../../storage/trace-store';

export interface LogExpiryOptions {
  intervalMs: number;
  traceRetentionMs: number;
  commandRetentionMs: number;
}

export class LogExpiry {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<TraceStore, 'expireTrace' | 'expireCommands'>,
    private readonly options: LogExpiryOptions,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.expire()
        .then(() => undefined)
        .catch((err: unknown) => this.logger.warn('could not expire trace events and commands', { err }))
        .finally(() => {
          this.running = undefined;
        });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One round; returns what was deleted. */
  async expire(): Promise<{ traceEvents: number; commands: number }> {
    const now = this.now();
    const traceEvents = await this.store.expireTrace(now - this.options.traceRetentionMs);
    const commands = await this.store.expireCommands(now - this.options.commandRetentionMs);
    if (traceEvents + commands > 0) this.logger.debug('expired', { traceEvents, commands });
    return { traceEvents, commands };
  }
}

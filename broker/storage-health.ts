// Whether the stores answer. Failed writes report at once (so publishes fail fast
// while it is down); a periodic ping notices both outages and recovery. Listeners drive
// readiness (grpc.health.v1) and the herald_storage_up metric.
import type { HeraldError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { Storage } from '../storage/index';

export class StorageHealth {
  available = true;
  lastError: HeraldError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pinging = false;
  private listeners: ((available: boolean) => void)[] = [];

  constructor(
    private readonly store: Pick<Storage, 'ping'>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  onChange(listener: (available: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** A call saw the store fail: mark it down now and look again soon. */
  failed(err: HeraldError): void {
    this.lastError = err;
    this.set(false);
  }

  async check(): Promise<boolean> {
    if (this.pinging) return this.available;
    this.pinging = true;
    try {
      await this.store.ping();
      this.set(true);
    } catch (err) {
      this.lastError = err as HeraldError;
      this.set(false);
    } finally {
      this.pinging = false;
    }
    return this.available;
  }

  private set(available: boolean): void {
    if (available === this.available) return;
    this.available = available;
    if (available) this.logger.info('storage is available again');
    else this.logger.error('storage is unavailable', { err: this.lastError });
    for (const l of this.listeners) l(available);
  }
}

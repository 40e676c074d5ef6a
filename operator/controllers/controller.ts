// Runs one reconciler over a work queue. Reconciles are level-based: given a key they read
// the current state and act on the difference, so a missed or repeated event does no harm.
// A reconcile returns when to look again (if ever), or throws: a TerminalError is logged and
// dropped until the object changes; anything else is retried with per-key backoff.
import type { Logger } from '../../common/logger';
import { WorkQueue } from '../kube/work-queue';

export interface ReconcileResult {
  /** Look again after this long even if nothing changes (polling an outside system). */
  requeueAfterMs?: number;
}

export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export type Reconcile = (key: string) => Promise<ReconcileResult | undefined>;

export class Controller {
  private readonly queue = new WorkQueue();
  private workers: Promise<void>[] = [];

  constructor(
    readonly name: string,
    private readonly reconcile: Reconcile,
    private readonly logger: Logger,
    private readonly concurrency = 2,
  ) {}

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    for (let i = 0; i < this.concurrency; i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.workers);
    this.workers = [];
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.next();
      if (key === undefined) return;
      try {
        const result = await this.reconcile(key);
        this.queue.forget(key);
        if (result?.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        if (err instanceof TerminalError) {
          this.logger.warn('reconcile failed; not retrying until the object changes', { key, err });
          this.queue.forget(key);
        } else {
          const delay = this.queue.addRateLimited(key);
          this.logger.warn('reconcile failed; retrying', { key, err, retryInMs: delay });
        }
      } finally {
        this.queue.done(key);
      }
    }
  }
}

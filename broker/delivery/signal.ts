// A wake-up signal for waiters (long polls, subscriptions). `version` grows on every
// notify, so a waiter that read the version before looking for work can tell whether it
// missed a notification while it looked, and must look again instead of sleeping.

export class Signal {
  version = 0;
  private waiters = new Set<() => void>();

  notify(): void {
    this.version++;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  /** Resolves on the next notify, after timeoutMs, or when `abort` fires; never rejects. */
  wait(timeoutMs: number, abort?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve();
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        this.waiters.delete(done);
        if (timer) clearTimeout(timer);
        abort?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      if (Number.isFinite(timeoutMs)) timer = setTimeout(done, Math.max(0, timeoutMs));
      abort?.addEventListener('abort', done, { once: true });
    });
  }
}
